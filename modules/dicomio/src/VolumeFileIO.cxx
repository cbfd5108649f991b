// The only translation unit that instantiates ITK image file readers and writers.
#include "lesion/dicomio/VolumeFileIO.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include <itkCastImageFilter.h>
#include <itkImageFileReader.h>
#include <itkImageFileWriter.h>
#include <itkImageIOBase.h>
#include <itkNiftiImageIO.h>
#include <itkNiftiImageIOFactory.h>
#include <itkNrrdImageIO.h>
#include <itkNrrdImageIOFactory.h>
#include <fmt/format.h>

#include "lesion/core/AtomicOutput.h"
#include "lesion/core/Error.h"
#include "lesion/core/ItkBridge.h"

namespace fs = std::filesystem;

namespace lesion::dicomio {
namespace {

bool endsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string lowerName(const fs::path& p) {
  std::string n = p.filename().string();
  std::transform(n.begin(), n.end(), n.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return n;
}

/// An explicit IO object per format: no reliance on ITK's factory registration at link time.
itk::ImageIOBase::Pointer ioFor(const fs::path& path) {
  const std::string n = lowerName(path);
  if (endsWith(n, ".nrrd") || endsWith(n, ".nhdr")) return itk::NrrdImageIO::New().GetPointer();
  if (endsWith(n, ".nii") || endsWith(n, ".nii.gz")) return itk::NiftiImageIO::New().GetPointer();
  throw InputError(fmt::format("'{}': unsupported volume file type (expected .nrrd, .nhdr, .nii or .nii.gz)", path.string()));
}

template <typename T>
typename itkbridge::ItkImage<T>::Pointer readAs(const fs::path& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) throw InputError(fmt::format("'{}': no such file", path.string()));
  if (fs::is_directory(path, ec)) throw InputError(fmt::format("'{}' is a folder, expected a volume file", path.string()));
  auto io = ioFor(path);
  try {
    io->SetFileName(path.string());
    io->ReadImageInformation();
  } catch (const itk::ExceptionObject& e) {
    throw InputError(fmt::format("'{}': cannot read image header: {}", path.string(), e.GetDescription()));
  }
  if (io->GetNumberOfDimensions() < 3 && io->GetNumberOfDimensions() != 2) {
    throw InputError(fmt::format("'{}': expected a 3D image, found {} dimensions", path.string(), io->GetNumberOfDimensions()));
  }
  if (io->GetNumberOfDimensions() > 3 && io->GetDimensions(3) > 1) {
    throw InputError(fmt::format("'{}': a 4D image with {} volumes; expected one 3D volume", path.string(), io->GetDimensions(3)));
  }
  if (io->GetNumberOfComponents() != 1) {
    throw InputError(fmt::format("'{}': expected a scalar image, found {} components per voxel", path.string(), io->GetNumberOfComponents()));
  }
  using Reader = itk::ImageFileReader<itkbridge::ItkImage<T>>;
  auto reader = Reader::New();
  reader->SetImageIO(io);
  reader->SetFileName(path.string());
  try {
    reader->Update();
  } catch (const itk::ExceptionObject& e) {
    throw InputError(fmt::format("'{}': cannot read image: {}", path.string(), e.GetDescription()));
  }
  return reader->GetOutput();
}

template <typename T>
void writeItk(const itkbridge::ItkImage<T>* image, const fs::path& path) {
  auto io = ioFor(path);
  writeFileAtomically(path, [&](const fs::path& tmp) {
    using Writer = itk::ImageFileWriter<itkbridge::ItkImage<T>>;
    auto writer = Writer::New();
    writer->SetImageIO(io);
    writer->SetInput(image);
    writer->SetFileName(tmp.string());
    writer->SetUseCompression(true);
    try {
      writer->Update();
    } catch (const itk::ExceptionObject& e) {
      throw InputError(fmt::format("cannot write '{}': {}", path.string(), e.GetDescription()));
    }
  });
}

} // namespace

bool isVolumeFileName(const fs::path& path) {
  const std::string n = lowerName(path);
  return endsWith(n, ".nrrd") || endsWith(n, ".nhdr") || endsWith(n, ".nii") || endsWith(n, ".nii.gz");
}

Volume readVolumeFile(const fs::path& path) {
  Volume v = itkbridge::fromItk<float>(readAs<float>(path).GetPointer());
  v.geometry.validate(path.string());
  return v;
}

LabelMap readLabelMapFile(const fs::path& path) {
  // Read as float first so that negative or fractional "labels" are caught, not wrapped.
  const Volume raw = readVolumeFile(path);
  LabelMap labels(raw.geometry);
  for (std::size_t i = 0; i < raw.voxels.size(); ++i) {
    const float v = raw.voxels[i];
    if (v < 0.0f || v > 65535.0f || std::floor(v) != v) {
      throw InputError(fmt::format("'{}': not a label map: voxel value {} is not a whole number in 0..65535", path.string(), v));
    }
    labels.voxels[i] = static_cast<std::uint16_t>(v);
  }
  return labels;
}

void writeVolumeFile(const Volume& volume, const fs::path& path, bool asInt16) {
  if (asInt16) {
    // One pass converts and checks (a 300-slice CT is 80 M voxels): straight into the ITK
    // buffer, falling back to float at the first value that is not a whole int16.
    auto image = itkbridge::ItkImage<std::int16_t>::New();
    itkbridge::copyGeometryTo(volume.geometry, image.GetPointer());
    image->Allocate();
    std::int16_t* out = image->GetBufferPointer();
    bool fits = true;
    constexpr std::size_t block = 4096;
    for (std::size_t start = 0; fits && start < volume.voxels.size(); start += block) {
      const std::size_t end = std::min(volume.voxels.size(), start + block);
      bool blockFits = true;
      for (std::size_t i = start; i < end; ++i) { // branch-free inside a block: vectorised
        const float v = volume.voxels[i];
        const bool inRange = v >= std::numeric_limits<std::int16_t>::min() && v <= std::numeric_limits<std::int16_t>::max();
        const float clamped = inRange ? v : 0.0f;
        out[i] = static_cast<std::int16_t>(clamped);
        blockFits &= inRange & (static_cast<float>(out[i]) == v);
      }
      fits = blockFits;
    }
    if (fits) {
      writeItk<std::int16_t>(image.GetPointer(), path);
      return;
    }
  }
  writeItk<float>(itkbridge::toItk(volume).GetPointer(), path);
}

void writeLabelMapFile(const LabelMap& labels, const fs::path& path) {
  writeItk<std::uint16_t>(itkbridge::toItk(labels).GetPointer(), path);
}

} // namespace lesion::dicomio
