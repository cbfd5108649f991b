#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <random>

#include <sys/stat.h>

#include <gtest/gtest.h>

#include "lesion/core/Error.h"
#include "lesion/dicomio/VolumeFileIO.h"
#include "lesion/dicomio/VolumeLoader.h"
#include "lesion/testing/TestHarness.h"

using namespace lesion;

namespace {
ImageGeometry obliqueGeometry() {
  ImageGeometry g;
  g.size = {7, 5, 4};
  g.spacing = {0.7, 0.9, 2.5};
  g.origin = {-120.25, 33.5, -401.75};
  const Mat3 r = Mat3::rotation(normalized(Vec3{0.2, 1.0, 0.3}), 0.4);
  g.direction = r;
  return g;
}
} // namespace

class VolumeFileRoundTrip : public ::testing::TestWithParam<std::string> {};

TEST_P(VolumeFileRoundTrip, KeepsGeometryAndValuesExactly) {
  test::ScratchFolder dir;
  Volume v(obliqueGeometry());
  for (std::size_t i = 0; i < v.voxels.size(); ++i) v.voxels[i] = static_cast<float>(i) * 1.5f - 40.0f;
  const auto path = dir / ("v" + GetParam());
  dicomio::writeVolumeFile(v, path);
  const Volume back = dicomio::readVolumeFile(path);
  // NIfTI stores geometry as float32 quaternions: exact to ~1e-5 mm, not 1e-12.
  EXPECT_TRUE(back.geometry.sameGrid(v.geometry, 1e-4)) << "geometry changed in " << GetParam();
  EXPECT_EQ(back.voxels, v.voxels);

  LabelMap labels(obliqueGeometry(), 0);
  labels.at(3, 2, 1) = 2;
  labels.at(6, 4, 3) = 65535;
  const auto lpath = dir / ("l" + GetParam());
  dicomio::writeLabelMapFile(labels, lpath);
  const LabelMap lback = dicomio::readLabelMapFile(lpath);
  EXPECT_TRUE(lback.geometry.sameGrid(labels.geometry, 1e-4));
  EXPECT_EQ(lback.voxels, labels.voxels);
  EXPECT_EQ(test::listFiles(dir.path()).size(), 2u) << "temporary files left behind";
}

// Upper case too: "-o m.NII.GZ" failed on its temporary ".m.NII.part-1-0.GZ".
INSTANTIATE_TEST_SUITE_P(Formats, VolumeFileRoundTrip,
                         ::testing::Values(".nrrd", ".nii.gz", ".nii", ".NRRD", ".NII.GZ", ".NII"));

// A .nhdr was written with its voxels in ".a.part-PID-N.raw.gz", left behind by the rename and
// named by the header: refused, naming the file, before anything is written.
TEST(VolumeFileIO, ADetachedNrrdHeaderIsNotWritten) {
  test::ScratchFolder dir;
  LabelMap labels(obliqueGeometry(), 0);
  for (const char* name : {"a.nhdr", "b.NHDR"}) {
    try {
      dicomio::writeLabelMapFile(labels, dir / name);
      ADD_FAILURE() << "wrote " << name;
    } catch (const UsageError& e) {
      EXPECT_NE(std::string(e.what()).find(std::string("'") + (dir / name).string() + "': a detached NRRD header"),
                std::string::npos)
          << e.what();
    }
  }
  EXPECT_THROW(dicomio::writeVolumeFile(Volume(obliqueGeometry()), dir / "v.nhdr"), UsageError);
  EXPECT_TRUE(test::listFiles(dir.path()).empty());
}

TEST(VolumeFileIO, ANrrdLabelMapKeepsTheRecordOfWhichLesionKitStepMadeIt) {
  test::ScratchFolder dir;
  LabelMap labels(obliqueGeometry(), 0);
  labels.at(3, 2, 1) = 1;
  dicomio::writeLabelMapFile(labels, dir / "ours.nrrd", {"SEMIAUTOMATIC", "1.2.3"});
  dicomio::LabelMapOrigin origin;
  EXPECT_EQ(dicomio::readLabelMapFile(dir / "ours.nrrd", &origin).voxels, labels.voxels);
  EXPECT_EQ(origin.algorithmType, "SEMIAUTOMATIC");
  EXPECT_EQ(origin.version, "1.2.3");
  EXPECT_TRUE(origin.byLesionKit());

  // Without the record (a reader's drawing, another tool's; any NIfTI) a label map is not ours.
  for (const char* name : {"theirs.nrrd", "ours.nii.gz"}) {
    dicomio::writeLabelMapFile(labels, dir / name,
                               name[0] == 'o' ? dicomio::LabelMapOrigin{"AUTOMATIC", "9"} : dicomio::LabelMapOrigin{});
    origin = {"AUTOMATIC", "9"};
    (void)dicomio::readLabelMapFile(dir / name, &origin);
    EXPECT_FALSE(origin.byLesionKit()) << name;
    EXPECT_EQ(origin.version, "") << name;
  }

  // The record is plain key/value fields of the header.
  dicomio::writeLabelMapFile(labels, dir / "mask.nrrd", {"AUTOMATIC", "0.9"});
  std::ifstream in(dir / "mask.nrrd", std::ios::binary);
  std::string header, line;
  while (std::getline(in, line) && !line.empty())
    header += line + '\n';
  EXPECT_NE(header.find("LesionKit_SegmentAlgorithmType:=AUTOMATIC\n"), std::string::npos) << header;
  EXPECT_NE(header.find("LesionKit_Version:=0.9\n"), std::string::npos) << header;
  EXPECT_NE(header.find("LesionKit_LabelsHash:=" + dicomio::labelMapHash(labels) + "\n"), std::string::npos) << header;
}

// Tools that edit the voxels keep the header (pynrrd, SimpleITK): a label map changed after
// LesionKit wrote it is no longer LesionKit's, and the reader learns why.
TEST(VolumeFileIO, ALabelMapEditedAfterLesionKitWroteItLosesTheRecord) {
  test::ScratchFolder dir;
  LabelMap labels(obliqueGeometry(), 0);
  labels.at(3, 2, 1) = labels.at(4, 2, 1) = 1;
  dicomio::writeLabelMapFile(labels, dir / "ours.nrrd", {"SEMIAUTOMATIC", "1.2.3"});
  LabelMap erased = labels;
  erased.at(4, 2, 1) = 0; // half the lesion erased by a reader
  dicomio::writeLabelMapFile(erased, dir / "erased.nrrd");
  test::replaceNrrdVoxelsKeepingHeader(dir / "ours.nrrd", dir / "erased.nrrd");

  dicomio::LabelMapOrigin origin;
  EXPECT_EQ(dicomio::readLabelMapFile(dir / "ours.nrrd", &origin).voxels, erased.voxels);
  EXPECT_FALSE(origin.byLesionKit());
  EXPECT_TRUE(origin.editedAfterWriting);
  EXPECT_NE(dicomio::editedLabelMapNote(dir / "ours.nrrd").find("'" + (dir / "ours.nrrd").string() + "'"),
            std::string::npos);

  // The hash covers the voxels and the grid, and is the same for the same label map.
  LabelMap moved = labels;
  moved.geometry.origin.x += 0.5;
  LabelMap finer = labels;
  finer.geometry.spacing.z = 0.5;
  const std::string hash = dicomio::labelMapHash(labels);
  EXPECT_EQ(hash.size(), 16u);
  EXPECT_EQ(dicomio::labelMapHash(LabelMap(labels)), hash);
  for (const LabelMap* other : {&erased, &moved, &finer})
    EXPECT_NE(dicomio::labelMapHash(*other), hash);
}

TEST(VolumeFileIO, Int16StorageIsUsedOnlyWhenLossless) {
  test::ScratchFolder dir;
  ImageGeometry g;
  g.size = {4, 4, 4};
  Volume v(g, -1000.0f);
  v.voxels[5] = 1200.0f;
  dicomio::writeVolumeFile(v, dir / "ct.nrrd", true);
  EXPECT_EQ(dicomio::readVolumeFile(dir / "ct.nrrd").voxels, v.voxels);
  v.voxels[6] = 0.25f; // not representable: falls back to float
  dicomio::writeVolumeFile(v, dir / "mr.nrrd", true);
  EXPECT_EQ(dicomio::readVolumeFile(dir / "mr.nrrd").voxels, v.voxels);
}

// A NIfTI/NRRD file has no Modality: "auto" units are HU only when the volume holds air, so an MR
// file is not measured as CT (calcification, HU checks) by default.
// Without a DICOM Modality a file is HU when >= 1 % of its voxels lie below -50 (fat or air): a CT
// cropped to a vertebra holds fat but may hold no air; MR is not negative but for interpolation
// undershoot at a few edges.
TEST(VolumeFileIO, AutoUnitsAreHounsfieldWhenAFileHoldsFatOrAir) {
  test::ScratchFolder dir;
  ImageGeometry g;
  g.size = {10, 10, 10};
  auto unitIsHu = [&](const Volume& v) {
    dicomio::writeVolumeFile(v, dir / "v.nii.gz");
    return dicomio::inHounsfieldUnits(dicomio::loadVolume(dir / "v.nii.gz"));
  };
  Volume mr(g, 300.0f);
  for (std::size_t q = 0; q < 5; ++q)
    mr.voxels[q * 97] = -400.0f; // undershoot: 0.5 % of the voxels
  EXPECT_FALSE(unitIsHu(mr));
  Volume croppedCt(g, 40.0f);
  for (std::size_t q = 0; q < 150; ++q)
    croppedCt.voxels[q] = -100.0f; // fat, no air
  EXPECT_TRUE(unitIsHu(croppedCt));
  Volume ct(g, 40.0f);
  for (std::size_t q = 0; q < 20; ++q)
    ct.voxels[q] = -1000.0f; // air: 2 %
  EXPECT_TRUE(unitIsHu(ct));
  dicomio::LoadedVolume dicomMr = dicomio::loadVolume(dir / "v.nii.gz");
  dicomMr.modality = "MR"; // a DICOM Modality decides over the values
  EXPECT_FALSE(dicomio::inHounsfieldUnits(dicomMr));
}

TEST(VolumeFileIO, BadFilesAreInputErrorsNamingTheFile) {
  test::ScratchFolder dir;
  EXPECT_THROW((void)dicomio::readVolumeFile(dir / "missing.nrrd"), InputError);
  std::ofstream(dir / "garbage.nrrd") << "this is not a nrrd file";
  try {
    (void)dicomio::readVolumeFile(dir / "garbage.nrrd");
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("garbage.nrrd"), std::string::npos);
  }
  EXPECT_THROW((void)dicomio::readVolumeFile(dir / "x.png"), InputError);
  ImageGeometry g;
  g.size = {2, 2, 2};
  Volume v(g, 0.5f);
  dicomio::writeVolumeFile(v, dir / "fraction.nrrd");
  EXPECT_THROW((void)dicomio::readLabelMapFile(dir / "fraction.nrrd"), InputError);
}

namespace {
std::string fileBytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}
} // namespace

TEST(MappedInt16NiftiFile, WritesTheSameBytesAsItkAndNothingWithoutCommit) {
  test::ScratchFolder dir;
  // An oblique grid and a flipped (feet-first, left-handed) one: ITK's header conventions hold for both.
  ImageGeometry flipped = obliqueGeometry();
  flipped.direction = Mat3::fromColumns({-1, 0, 0}, {0, 1, 0}, {0, 0, -1});
  for (const ImageGeometry& g : {obliqueGeometry(), flipped}) {
    dicomio::Int16Volume v(g);
    for (std::size_t i = 0; i < v.voxels.size(); ++i) v.voxels[i] = std::int16_t(int(i) * 37 - 1024);
    dicomio::writeVolumeFile(v, dir / "itk.nii");
    {
      dicomio::MappedInt16NiftiFile mapped(dir / "mapped.nii", g);
      std::copy(v.voxels.begin(), v.voxels.end(), mapped.voxels());
      mapped.commit();
    }
    const std::string itk = fileBytes(dir / "itk.nii");
    ASSERT_EQ(itk.size(), 352 + 2 * v.voxels.size());
    EXPECT_EQ(fileBytes(dir / "mapped.nii"), itk); // header (geometry) and voxels, byte for byte
    const Volume back = dicomio::readVolumeFile(dir / "mapped.nii");
    EXPECT_TRUE(back.geometry.sameGrid(g, 1e-4));
    EXPECT_EQ(back.voxels[5], float(5 * 37 - 1024));
  }
  { dicomio::MappedInt16NiftiFile abandoned(dir / "abandoned.nii", obliqueGeometry()); }
  EXPECT_EQ(test::listFiles(dir.path()), (std::vector<std::string>{"itk.nii", "mapped.nii"}));
  EXPECT_TRUE(dicomio::isUncompressedNiftiFileName("a/B.NII"));
  EXPECT_FALSE(dicomio::isUncompressedNiftiFileName("b.nii.gz"));
  EXPECT_THROW(dicomio::MappedInt16NiftiFile(dir / "itk.nii" / "y.nii", obliqueGeometry()), InputError); // parent is a file
}

// ITK's NIfTI writer orthonormalises the direction into qform and sform alike: a tilted series kept
// sheared came out with every slice placed elsewhere (up to 50 mm on the GE head CT), silently.
TEST(VolumeFileIO, AShearedGridIsRefusedAsNiftiAndKeptByNrrd) {
  test::ScratchFolder dir;
  const double lean = 18.5 * 3.14159265358979323846 / 180.0;
  ImageGeometry sheared;
  sheared.size = {4, 3, 5};
  sheared.direction = Mat3::fromColumns({1, 0, 0}, {0, 1, 0}, {0, std::sin(lean), std::cos(lean)});
  const Volume volume(sheared, 40.0f);
  for (const std::string name : {"v.nii.gz", "v.nii"}) {
    const std::filesystem::path path = dir / name;
    try {
      dicomio::writeVolumeFile(volume, path);
      ADD_FAILURE() << name << " written";
    } catch (const UsageError& e) {
      const std::string m = e.what();
      EXPECT_NE(m.find("'" + path.string() + "': NIfTI cannot hold this grid: its slices are stacked 18.50 deg off"),
                std::string::npos)
          << m;
      EXPECT_NE(m.find("write .nrrd"), std::string::npos) << m;
    }
    EXPECT_THROW(dicomio::writeVolumeFile(dicomio::Int16Volume(sheared), path), UsageError);
    EXPECT_THROW(dicomio::writeLabelMapFile(LabelMap(sheared), path), UsageError);
  }
  EXPECT_THROW(dicomio::MappedInt16NiftiFile(dir / "m.nii", sheared), UsageError);
  EXPECT_TRUE(test::listFiles(dir.path()).empty()); // nothing half-written
  // NRRD holds the sheared axes as they are; LesionKit's own commands refuse such a grid as input.
  dicomio::writeVolumeFile(volume, dir / "v.nrrd");
  const std::string header = fileBytes(dir / "v.nrrd");
  EXPECT_NE(header.find("space directions: (1,0,0) (0,1,0) (0,0.3173"), std::string::npos) << header.substr(0, 400);
  EXPECT_THROW((void)dicomio::readVolumeFile(dir / "v.nrrd"), InputError);
  // A lean below what the loader calls a tilt (0.05 deg) is an orthonormal grid to within float rounding.
  ImageGeometry almost = sheared;
  almost.direction = Mat3::fromColumns({1, 0, 0}, {0, 1, 0}, {0, 5e-4, std::sqrt(1.0 - 25e-8)});
  EXPECT_NO_THROW(dicomio::writeVolumeFile(Volume(almost, 1.0f), dir / "almost.nii.gz"));
}

namespace {
/// The message of the InputError reading `path` throws; empty when it reads.
std::string readError(const std::filesystem::path& path) {
  try {
    (void)dicomio::readVolumeFile(path);
  } catch (const InputError& e) {
    return e.what();
  }
  return {};
}
} // namespace

TEST(VolumeFileIO, TruncatedNiftiIsAnInputErrorNotZeros) {
  // ITK reads the missing part of a cut .nii or .nii.gz as zeros without a word.
  test::ScratchFolder dir;
  ImageGeometry g;
  g.size = {16, 16, 8};
  Volume v(g);
  std::mt19937 rng(5); // noise, so that half the .nii.gz is well past its header
  for (float& x : v.voxels)
    x = float(std::uniform_int_distribution<int>(-1000, 1000)(rng));
  for (const std::string name : {"v.nii", "v.nii.gz"}) {
    dicomio::writeVolumeFile(v, dir / name, true);
    ASSERT_EQ(readError(dir / name), "") << name; // whole: reads
    const std::string bytes = fileBytes(dir / name);
    std::ofstream(dir / ("cut-" + name), std::ios::binary) << bytes.substr(0, bytes.size() / 2);
    const std::string message = readError(dir / ("cut-" + name));
    EXPECT_NE(message.find("cut-" + name), std::string::npos) << message;
    EXPECT_NE(message.find("truncated"), std::string::npos) << message;
    EXPECT_NE(message.find("4096 bytes of voxels"), std::string::npos) << message; // 16 x 16 x 8 int16
  }
}

TEST(VolumeFileIO, NonFiniteVoxelsAndZeroSpacingAreInputErrorsNamingTheProblem) {
  test::ScratchFolder dir;
  ImageGeometry g;
  g.size = {4, 3, 2};
  Volume v(g, 10.0f);
  v.at(1, 2, 1) = std::numeric_limits<float>::quiet_NaN();
  v.at(3, 2, 1) = std::numeric_limits<float>::infinity();
  // NIfTI: the NIfTI library set them to 0 without a word (measured as water, an all-NaN file
  // "looked like a label map"); the same words for volumes and label maps as for NRRD.
  std::string message;
  for (const std::string name : {"nan.nrrd", "nan.nii", "nan.nii.gz"}) {
    dicomio::writeVolumeFile(v, dir / name);
    const std::string expected = "'" + (dir / name).string() +
                                 "': 2 voxel(s) hold no finite number (NaN, or beyond the float range), the first at "
                                 "voxel (1, 2, 1): nan; replace them (e.g. with the background value) first";
    EXPECT_EQ(readError(dir / name), expected);
    try {
      (void)dicomio::readLabelMapFile(dir / name);
      ADD_FAILURE() << "read " << name << " as a label map";
    } catch (const InputError& e) {
      EXPECT_EQ(std::string(e.what()), expected);
    }
  }
  // ITK's own words for this are "A spacing of 0 is not allowed" with an object address.
  std::ofstream(dir / "flat.nrrd", std::ios::binary)
      << "NRRD0004\ntype: uchar\ndimension: 3\nsizes: 2 2 2\nspace: left-posterior-superior\n"
         "space directions: (1,0,0) (0,1,0) (0,0,0)\nendian: little\nencoding: raw\nspace origin: (0,0,0)\n\n"
      << std::string(8, '\1');
  message = readError(dir / "flat.nrrd");
  EXPECT_NE(message.find("'" + (dir / "flat.nrrd").string() + "': voxel spacing must be positive, found 1 x 1 x 0 mm"),
            std::string::npos)
      << message;
  // A NIfTI header with pixdim[3] = 0: the NIfTI library makes it 1 mm, or (no qform or sform)
  // ITK fails on "orthonormal direction cosines".
  Volume plain(g, 10.0f);
  for (const bool withTransforms : {true, false}) {
    dicomio::writeVolumeFile(plain, dir / "flat.nii");
    std::string bytes = fileBytes(dir / "flat.nii");
    ASSERT_GT(bytes.size(), 348u);
    const float zero = 0.0f;
    const std::int16_t noTransform[2] = {0, 0};
    bytes.replace(88, 4, reinterpret_cast<const char*>(&zero), 4); // pixdim[3] (NIfTI-1, little endian)
    if (!withTransforms)
      bytes.replace(252, 4, reinterpret_cast<const char*>(noTransform), 4); // qform_code, sform_code
    std::ofstream(dir / "flat.nii", std::ios::binary | std::ios::trunc) << bytes;
    message = readError(dir / "flat.nii");
    EXPECT_NE(message.find("'" + (dir / "flat.nii").string() + "': voxel spacing must be positive, found 1 x 1 x 0 mm"),
              std::string::npos)
        << (withTransforms ? "with" : "without") << " qform/sform: " << message;
  }
}

namespace {
/// Overwrites `bytes` at `offset` of the file at `path` (e.g. a field of a NIfTI-1 header).
void patchFile(const std::filesystem::path& path, std::size_t offset, const std::string& bytes) {
  std::string file = fileBytes(path);
  file.replace(offset, bytes.size(), bytes);
  std::ofstream(path, std::ios::binary | std::ios::trunc) << file;
}

template <typename T> std::string bytesOf(std::initializer_list<T> values) {
  std::string out;
  for (const T v : values)
    out.append(reinterpret_cast<const char*>(&v), sizeof v);
  return out;
}
} // namespace

TEST(VolumeFileIO, NiftiTransformsWithNanOrInfinityAreInputErrorsNotAborts) {
  // NaN in the sform aborted the process in ITK (vnl_svd asserts finite values); NaN in the
  // qform was silently made an identity at (0, 0, 0) by the NIfTI library.
  test::ScratchFolder dir;
  ImageGeometry g;
  g.size = {4, 3, 2};
  const Volume plain(g, 10.0f);
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  const std::string sformOnly = bytesOf<std::int16_t>({0, 1}), qformOnly = bytesOf<std::int16_t>({1, 0});
  struct Case {
    std::string name, codes, where;
    std::size_t at;
    float value;
  };
  for (const Case& c : {Case{"sform-nan.nii", sformOnly, "sform", 280, nan},     // srow_x[0]
                        Case{"sform-inf.nii", sformOnly, "sform", 292, inf},     // srow_x[3]: the x offset
                        Case{"qform-nan.nii", qformOnly, "qform", 256, nan},     // quatern_b
                        Case{"qform-inf.nii", qformOnly, "qform", 268, -inf}}) { // qoffset_x
    const auto path = dir / c.name;
    dicomio::writeVolumeFile(plain, path);
    patchFile(path, 252, c.codes); // qform_code, sform_code
    patchFile(path, c.at, bytesOf<float>({c.value}));
    EXPECT_EQ(readError(path), "'" + path.string() + "': the " + c.where +
                                   " (position and orientation in the header) holds a value that is not a finite "
                                   "number (NaN or infinity)");
  }
}

namespace {
/// The float at `offset` of the file at `path` (e.g. a NIfTI-1 header field).
float floatAt(const std::filesystem::path& path, std::size_t offset) {
  float v;
  std::memcpy(&v, fileBytes(path).data() + offset, sizeof v);
  return v;
}
} // namespace

TEST(VolumeFileIO, ANiftiWhoseQformAndSformDisagreeIsRefusedNotGuessed) {
  // ITK placed such a file by its qform (sform code 2 to 4) or by its sform (code 1), nibabel and
  // FSL by its sform: a mask written from it sat 10 mm off the lesion in those tools, silently.
  test::ScratchFolder dir;
  const Volume oblique(obliqueGeometry(), 10.0f);
  const auto path = dir / "two.nii";
  dicomio::writeVolumeFile(oblique, path);
  ASSERT_EQ(fileBytes(path).substr(252, 4), bytesOf<std::int16_t>({1, 1})); // ITK writes both, alike
  ASSERT_EQ(readError(path), "");
  const float sformX = floatAt(path, 292); // srow_x[3]: the sform's x offset (RAS)
  for (const std::int16_t sformCode : {1, 2}) {
    patchFile(path, 252, bytesOf<std::int16_t>({1, sformCode}));
    patchFile(path, 292, bytesOf<float>({sformX + 10.0f}));
    EXPECT_EQ(readError(path),
              "'" + path.string() +
                  "': the header places the image twice, differently: its qform (code 1, scanner) "
                  "and its sform (code " +
                  std::to_string(sformCode) + (sformCode == 1 ? ", scanner" : ", aligned") +
                  ") put the image's corners up to 10.00 mm apart (axes 0.00 deg apart). Tools choose between them "
                  "differently (ITK and 3D Slicer mostly the qform, nibabel and FSL the sform), so seeds and masks "
                  "would not line up across tools; fix the header so that both hold the right placement (e.g. "
                  "nibabel, when the sform is right: img.set_qform(img.get_sform())), or set the wrong one's code "
                  "to 0");
    EXPECT_THROW((void)dicomio::readLabelMapFile(path), InputError); // masks come through the same reader
  }
  patchFile(path, 292, bytesOf<float>({sformX + 0.05f})); // within 0.1 mm: one placement
  EXPECT_EQ(readError(path), "");
  // Only one of them set: that one places the image (x is RAS in the file, LPS here).
  patchFile(path, 292, bytesOf<float>({sformX + 10.0f}));
  patchFile(path, 252, bytesOf<std::int16_t>({0, 2}));
  EXPECT_NEAR(dicomio::readVolumeFile(path).geometry.origin.x, oblique.geometry.origin.x - 10.0, 1e-4);
  patchFile(path, 252, bytesOf<std::int16_t>({1, 0}));
  EXPECT_NEAR(dicomio::readVolumeFile(path).geometry.origin.x, oblique.geometry.origin.x, 1e-4);

  // Turned apart by 0.25 deg about z, the corners of a 4 x 3 x 2 mm grid move less than 0.1 mm:
  // the angle is refused on its own. The identity in LPS is a half turn about z in RAS
  // (quatern_d = 1); -cos(angle / 2) there turns the qform by the angle.
  ImageGeometry small;
  small.size = {4, 3, 2};
  dicomio::writeVolumeFile(Volume(small, 10.0f), path);
  ASSERT_EQ(readError(path), "");
  ASSERT_EQ(floatAt(path, 264), 1.0f); // quatern_d
  const double halfAngleRadPerDeg = 3.14159265358979 / 360.0;
  patchFile(path, 264, bytesOf<float>({float(-std::cos(0.25 * halfAngleRadPerDeg))}));
  EXPECT_NE(readError(path).find("corners up to 0.02 mm apart (axes 0.25 deg apart)"), std::string::npos)
      << readError(path);
  patchFile(path, 264, bytesOf<float>({float(-std::cos(0.05 * halfAngleRadPerDeg))}));
  EXPECT_EQ(readError(path), "");
}

TEST(VolumeFileIO, OurOwnNiftiOfAnAxialScanTurnedALittleInPlaneIsReadBack) {
  // LPS identity is a half turn about z in RAS; turned 0.02 deg more, the quaternion's a is below
  // nifti1.h's 1e-7 rule and the qform loses the turn, the sform keeps it: 0.3 mm apart at the
  // corners of a 630 mm grid. Both describe one placement (and both tools read the sform): read.
  test::ScratchFolder dir;
  ImageGeometry g;
  g.size = {8, 8, 8};
  g.spacing = {90.0, 90.0, 90.0};
  const double turn = 0.02 * 3.14159265358979 / 180.0;
  g.direction =
      Mat3::fromColumns({std::cos(turn), std::sin(turn), 0.0}, {-std::sin(turn), std::cos(turn), 0.0}, {0.0, 0.0, 1.0});
  const auto path = dir / "turned.nii";
  dicomio::writeVolumeFile(Volume(g, 10.0f), path);
  EXPECT_EQ(readError(path), "");
}

TEST(VolumeFileIO, ASformOnlyNiftiWithTinyVoxelsIsRefusedForItsRealReason) {
  // ITK 5.2 checks an sform in single precision: with 0.01 mm voxels and no qform it said "ITK
  // only supports orthonormal direction cosines" of axes at right angles.
  test::ScratchFolder dir;
  ImageGeometry g;
  g.size = {8, 8, 8};
  g.spacing = {0.01, 0.01, 0.02};
  const auto path = dir / "tiny.nii";
  dicomio::writeVolumeFile(Volume(g, 10.0f), path);
  ASSERT_EQ(readError(path), "");                      // with its qform: read
  patchFile(path, 252, bytesOf<std::int16_t>({0, 1})); // qform_code 0, sform_code 1
  EXPECT_EQ(readError(path), "'" + path.string() +
                                 "': cannot read image header: the header places the voxels by its sform alone "
                                 "(qform_code 0), whose axes are at right angles, but ITK 5.2's NIfTI reader checks "
                                 "the sform in single precision, which fails for voxels of 0.01 x 0.01 x 0.02 mm with "
                                 "the origin 0 mm away (too small for that check); write the file with a qform as "
                                 "well (e.g. nibabel: img.set_qform(img.affine, code=1)) or as NRRD");
  // Axes really skewed: ITK's own words stand.
  patchFile(path, 284, bytesOf<float>({0.005f})); // srow_x[1]: the y axis leans towards x
  EXPECT_NE(readError(path).find("orthonormal direction cosines"), std::string::npos) << readError(path);
}

TEST(VolumeFileIO, NiftiWithMoreThanOneVolumeBeyondTheFourthAxisIsAnInputError) {
  // dim[0] = 5 with two vector components in dim[5] and no vector intent code: ITK read the
  // first half of the values as the volume, without a word.
  test::ScratchFolder dir;
  ImageGeometry g;
  g.size = {4, 3, 2};
  const Volume plain(g, 10.0f);
  const auto path = dir / "5d.nii";
  dicomio::writeVolumeFile(plain, path);
  patchFile(path, 40, bytesOf<std::int16_t>({5, 4, 3, 1, 1, 2})); // dim[0..5]
  EXPECT_EQ(readError(path), "'" + path.string() +
                                 "': the header's dimensions hold 24 values, 12 of them one 3D scalar volume; "
                                 "expected one 3D scalar volume (no time points, vector components or further axes)");
}

TEST(VolumeFileIO, AFifoOrDeviceNamedAsAVolumeIsRefusedNotReadForEver) {
  // measure --mask pipe.nrrd waited for a writer for ever; a link to /dev/zero was read for ever.
  test::ScratchFolder dir;
  const auto fifo = dir / "pipe.nrrd";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  std::filesystem::create_symlink("/dev/zero", dir / "zero.nrrd");
  for (const auto& path : {fifo, dir / "zero.nrrd"}) {
    const std::string expected =
        "'" + path.string() + "' is not a regular file (a device, FIFO or socket), expected a volume file";
    EXPECT_EQ(readError(path), expected);
    try {
      (void)dicomio::loadVolume(path);
      ADD_FAILURE() << "loaded " << path;
    } catch (const InputError& e) {
      EXPECT_EQ(std::string(e.what()), expected);
    }
  }
}

TEST(VolumeFileIO, ANrrdWithoutTheSpacingOfAnAxisIsAnInputErrorNotOneMillimetre) {
  // ITK put 1 mm where the header gave none (no field, a "none" direction, a NaN spacing):
  // volumes in mL were off by that factor without a word.
  test::ScratchFolder dir;
  const std::string start = "NRRD0004\ntype: uchar\ndimension: 3\nsizes: 2 2 2\n";
  const std::string data = "endian: little\nencoding: raw\n\n" + std::string(8, '\1');
  struct Case {
    std::string name, geometry;
    int axis;
  };
  for (const Case& c : {Case{"nothing.nrrd", "", 1}, Case{"nan.nrrd", "spacings: 2 2 nan\n", 3},
                        Case{"none.nrrd",
                             "space: left-posterior-superior\nspace directions: (2,0,0) none (0,0,4)\n"
                             "space origin: (0,0,0)\n",
                             2}}) {
    std::ofstream(dir / c.name, std::ios::binary) << start << c.geometry << data;
    EXPECT_EQ(readError(dir / c.name), "'" + (dir / c.name).string() +
                                           "': the header gives no voxel spacing for axis " + std::to_string(c.axis) +
                                           " (no 'space directions' or 'spacings' value, or 'none'/'nan' there): every "
                                           "size in mm would rest on a guessed 1 mm; add the spacing to the header");
  }
  std::ofstream(dir / "fine.nrrd", std::ios::binary) << start << "spacings: 2 2 4\n" << data;
  EXPECT_EQ(readError(dir / "fine.nrrd"), "");
  // Review: a non-spatial list axis ("none" among four directions, which ITK leaves out) and field
  // names in capitals (read by ITK's NRRD reader) were refused, though their spacing is all there.
  std::ofstream(dir / "list.nrrd", std::ios::binary)
      << "NRRD0004\ntype: uchar\ndimension: 4\nsizes: 1 2 2 2\nspace: left-posterior-superior\n"
      << "space directions: none (0.8,0,0) (0,0.8,0) (0,0,2.5)\nkinds: list domain domain domain\n"
      << "space origin: (0,0,0)\n"
      << data;
  EXPECT_EQ(readError(dir / "list.nrrd"), "");
  std::ofstream(dir / "capitals.nrrd", std::ios::binary)
      << start << "SPACE: left-posterior-superior\nSPACE DIRECTIONS: (2,0,0) (0,2,0) (0,0,4)\n"
      << "SPACE ORIGIN: (0,0,0)\n"
      << data;
  EXPECT_EQ(readError(dir / "capitals.nrrd"), "");
}

TEST(VolumeFileIO, ANiftiFileWithoutNiftisHeaderSizeOrMagicIsAnInputError) {
  // The NIfTI library read a header without the magic as Analyze 7.5 (orientation guessed, ITK's
  // "is Analyze file and it's deprecated" on stderr) and a size field of 999 passed every check
  // made from the header (truncation, transforms) unchecked.
  test::ScratchFolder dir;
  ImageGeometry g;
  g.size = {4, 3, 2};
  const Volume plain(g, 10.0f);
  const auto analyze = dir / "analyze.nii", size = dir / "size.nii", tiny = dir / "tiny.nii";
  dicomio::writeVolumeFile(plain, analyze);
  patchFile(analyze, 344, std::string("xyz\0", 4));
  dicomio::writeVolumeFile(plain, size);
  patchFile(size, 0, bytesOf<std::int32_t>({999}));
  std::ofstream(tiny, std::ios::binary) << std::string(100, '\0');
  EXPECT_EQ(readError(analyze), "'" + analyze.string() +
                                    "': the header's magic is 'xyz\\x00', expected 'n+1' or 'n+2' (NIfTI): an "
                                    "Analyze 7.5 file or a damaged header, without an orientation to trust");
  EXPECT_EQ(readError(size), "'" + size.string() +
                                 "': not a NIfTI file: its first 4 bytes hold neither 348 (NIfTI-1) nor 540 "
                                 "(NIfTI-2), the size of the header");
  EXPECT_EQ(readError(tiny),
            "'" + tiny.string() + "': truncated or not a NIfTI file: 100 bytes, shorter than a NIfTI header");
}

TEST(VolumeFileIO, ReaderErrorsAreOneLineWithoutItkObjectAddresses) {
  // ITK's text was "itk::ERROR: NrrdImageIO(0x55d0c8f1fa80): ReadImageInformation: Error reading
  // ...:" and five lines of teem's call chain.
  test::ScratchFolder dir;
  { std::ofstream(dir / "empty.nrrd"); }
  EXPECT_EQ(readError(dir / "empty.nrrd"),
            "'" + (dir / "empty.nrrd").string() + "': cannot read image header: immediately hit EOF");
  std::ofstream(dir / "short.nrrd", std::ios::binary)
      << "NRRD0004\ntype: short\ndimension: 3\nsizes: 4 4 4\nspacings: 1 1 1\nendian: little\nencoding: raw\n\n"
      << std::string(64, '\1'); // half of 4 x 4 x 4 x 2 bytes
  const std::string message = readError(dir / "short.nrrd");
  EXPECT_NE(message.find("short.nrrd': cannot read image: fread got only 32 2-sized things, not 64"), std::string::npos)
      << message;
  EXPECT_EQ(message.find('\n'), std::string::npos) << message;
  EXPECT_EQ(message.find("(0x"), std::string::npos) << message;
}
