#pragma once
/// \file DicomSeriesReader.h
/// DICOM series → Volume: pixel data decoded with DCMTK (uncompressed, big endian, deflate,
/// RLE, JPEG lossless/lossy, JPEG-LS) or, for JPEG 2000 (absent from Debian's DCMTK), with GDCM
/// (OpenJPEG); values in float via Rescale Slope/Intercept (Hounsfield units on CT), geometry
/// from Image Position/Orientation. Colour, 1-bit (e.g. SEG) and HTJ2K pixel data are refused
/// with a DicomError naming the file.
///
/// Conventions:
/// - slice order and spacing come from Image Position projected on the slice normal;
/// - origin = Image Position of the first slice, direction columns = row cosine, column cosine, normal;
/// - Pixel Padding Value (range) voxels and voxels outside the scanned field after resampling get
///   the smallest non-padding value of the series (e.g. -1024 HU), reported as paddingValue;
/// - gantry tilt and uneven spacing / missing slices are recorded as warnings and resampled by
///   default (linear along the stack, bilinear in-plane) onto the smallest step found (shortened
///   so that the grid ends on the last acquired slice), see LoadOptions; when the stored values and rescale are whole
///   numbers (plain CT) the interpolated values are rounded to whole numbers (error <= 0.5 HU);
/// - slices are decoded in parallel (LoadOptions::threads, default 2), one file per task;
///   uncompressed little endian files are read without a second DCMTK parse;
/// - with LoadOptions::storage = VoxelStorage::Int16WhenExact the voxels go straight into an int16
///   volume when that is exact (see VolumeLoader.h).

#include <vector>

#include "lesion/core/Progress.h"
#include "lesion/dicomio/DicomSeries.h"
#include "lesion/dicomio/VolumeLoader.h"

namespace lesion::dicomio {

/// Decodes one frame into rescaled float values (rows × columns, x fastest) with padding
/// voxels set to NaN. Throws lesion::DicomError naming the file and the transfer syntax when
/// the pixel data cannot be decoded.
[[nodiscard]] std::vector<float> decodeDicomFrame(const DicomInstance& instance, int frame = 0);

/// Raw stored values of one frame (before rescale), for bit-exact codec checks.
[[nodiscard]] std::vector<long> decodeDicomFrameStoredValues(const DicomInstance& instance, int frame = 0);

/// Builds the volume of `series`. Throws lesion::DicomError naming the file on undecodable
/// pixels, missing geometry, or (with SpacingHandling::Refuse) uneven spacing / gaps.
[[nodiscard]] LoadedVolume readDicomSeries(const DicomSeries& series, const LoadOptions& options = {},
                                           const Progress& progress = {});

} // namespace lesion::dicomio
