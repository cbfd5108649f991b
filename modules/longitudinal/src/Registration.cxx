// Rigid registration (ITK v4). Every ITK template of the module's registration lives here.
#include "lesion/longitudinal/Registration.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>

#include <fmt/format.h>
#include <itkBinShrinkImageFilter.h>
#include <itkCenteredTransformInitializer.h>
#include <itkCommand.h>
#include <itkImageRegistrationMethodv4.h>
#include <itkMattesMutualInformationImageToImageMetricv4.h>
#include <itkMinimumMaximumImageCalculator.h>
#include <itkRegionOfInterestImageFilter.h>
#include <itkRegistrationParameterScalesFromPhysicalShift.h>
#include <itkRegularStepGradientDescentOptimizerv4.h>
#include <itkShiftScaleImageFilter.h>
#include <itkThresholdImageFilter.h>
#include <itkVersorRigid3DTransform.h>

#include "lesion/core/Error.h"
#include "lesion/core/ItkBridge.h"

namespace lesion::longitudinal {

namespace {

using ImageType = itk::Image<float, 3>;
using TransformType = itk::VersorRigid3DTransform<double>;
using MetricType = itk::MattesMutualInformationImageToImageMetricv4<ImageType, ImageType>;
using OptimizerType = itk::RegularStepGradientDescentOptimizerv4<double>;
using RegistrationType = itk::ImageRegistrationMethodv4<ImageType, ImageType, TransformType>;

/// The settings the global and local levels share.
struct LevelSettings {
  std::vector<unsigned> shrinkFactors;
  std::vector<double> smoothingSigmas;
  unsigned histogramBins{32};
  double samplingFraction{0.2};
  std::size_t maxSamples{50000};
  unsigned maxIterations{200};
  double initialStepMm{1.0};
  double minimumStepMm{1e-3};
  unsigned threads{2};
  std::uint32_t seed{1};
};

ImageType::Pointer clampBelow(ImageType::Pointer image, std::optional<float> value, unsigned threads) {
  if (!value) return image;
  auto clamp = itk::ThresholdImageFilter<ImageType>::New();
  clamp->SetInput(image);
  clamp->ThresholdBelow(*value);
  clamp->SetOutsideValue(*value);
  clamp->SetNumberOfWorkUnits(threads);
  clamp->Update();
  return clamp->GetOutput();
}

/// Averages blocks of voxels so each output voxel is at least `voxelSizeMm` along every axis.
ImageType::Pointer binShrink(ImageType::Pointer image, double voxelSizeMm, unsigned threads) {
  auto shrink = itk::BinShrinkImageFilter<ImageType, ImageType>::New();
  shrink->SetInput(image);
  ImageType::SizeType size = image->GetLargestPossibleRegion().GetSize();
  bool any = false;
  for (unsigned a = 0; a < 3; ++a) {
    const auto wanted = static_cast<unsigned>(std::max(1.0, std::floor(voxelSizeMm / image->GetSpacing()[a] + 0.5)));
    // Keep at least 16 voxels along an axis so the pyramid's coarsest level still has an image.
    const unsigned factor = std::max(1u, std::min<unsigned>(wanted, static_cast<unsigned>(size[a] / 16)));
    shrink->SetShrinkFactor(a, factor);
    any = any || factor > 1;
  }
  if (!any) return image;
  shrink->SetNumberOfWorkUnits(threads);
  shrink->Update();
  return shrink->GetOutput();
}

RigidTransform toRigid(const TransformType* t) {
  RigidTransform r;
  const auto& m = t->GetMatrix();
  const auto& o = t->GetOffset();
  for (unsigned a = 0; a < 3; ++a) {
    for (unsigned b = 0; b < 3; ++b) r.rotation(a, b) = m(a, b);
    r.translation[a] = o[a];
  }
  return r;
}

/// A versor transform equal to `r`, rotating about `centre` (centre only changes the
/// parameterisation, which the optimiser is better conditioned in near the region).
TransformType::Pointer fromRigid(const RigidTransform& r, const Vec3& centre) {
  auto t = TransformType::New();
  TransformType::InputPointType c;
  TransformType::MatrixType m;
  TransformType::OutputVectorType offset;
  for (unsigned a = 0; a < 3; ++a) {
    c[a] = centre[a];
    for (unsigned b = 0; b < 3; ++b) m(a, b) = r.rotation(a, b);
    offset[a] = r.translation[a];
  }
  t->SetCenter(c);
  t->SetMatrix(m, 1e-6);
  t->SetOffset(offset);
  return t;
}

/// Lowers the step at each finer level and forwards progress.
class LevelObserver : public itk::Command {
public:
  using Self = LevelObserver;
  using Superclass = itk::Command;
  using Pointer = itk::SmartPointer<Self>;
  itkNewMacro(Self);
  void Execute(itk::Object* caller, const itk::EventObject& event) override { Execute(static_cast<const itk::Object*>(caller), event); }
  void Execute(const itk::Object* caller, const itk::EventObject& event) override {
    if (!itk::MultiResolutionIterationEvent().CheckEvent(&event)) return;
    const auto* registration = static_cast<const RegistrationType*>(caller);
    const unsigned level = registration->GetCurrentLevel();
    m_Optimizer->SetLearningRate(m_InitialStep / std::pow(2.0, double(level)));
    m_Optimizer->SetMinimumStepLength(m_MinimumStep);
    m_Progress.report(double(level) / double(m_Levels), fmt::format("registration level {}", level + 1));
  }
  OptimizerType* m_Optimizer{nullptr};
  double m_InitialStep{1.0};
  double m_MinimumStep{1e-3};
  unsigned m_Levels{1};
  Progress m_Progress{};
};

RegistrationResult runRegistration(ImageType::Pointer fixed, ImageType::Pointer moving, TransformType::Pointer transform,
                                   const LevelSettings& s, Progress progress) {
  if (s.shrinkFactors.empty() || s.shrinkFactors.size() != s.smoothingSigmas.size())
    throw InputError(fmt::format("registration: expected as many smoothing sigmas as shrink factors, got {} and {}",
                                 s.smoothingSigmas.size(), s.shrinkFactors.size()));
  const auto start = std::chrono::steady_clock::now();
  auto metric = MetricType::New();
  metric->SetNumberOfHistogramBins(s.histogramBins);
  metric->SetUseMovingImageGradientFilter(false);
  metric->SetUseFixedImageGradientFilter(false);
  metric->SetMaximumNumberOfWorkUnits(s.threads);

  auto scales = itk::RegistrationParameterScalesFromPhysicalShift<MetricType>::New();
  scales->SetMetric(metric);

  auto optimizer = OptimizerType::New();
  optimizer->SetLearningRate(s.initialStepMm);
  optimizer->SetMinimumStepLength(s.minimumStepMm);
  optimizer->SetRelaxationFactor(0.5);
  optimizer->SetNumberOfIterations(s.maxIterations);
  optimizer->SetGradientMagnitudeTolerance(1e-8);
  optimizer->SetScalesEstimator(scales);
  optimizer->SetDoEstimateLearningRateOnce(false);
  optimizer->SetDoEstimateLearningRateAtEachIteration(false);
  optimizer->SetReturnBestParametersAndValue(true);
  optimizer->SetNumberOfWorkUnits(s.threads);

  auto registration = RegistrationType::New();
  registration->SetFixedImage(fixed);
  registration->SetMovingImage(moving);
  registration->SetMetric(metric);
  registration->SetOptimizer(optimizer);
  registration->SetInitialTransform(transform);
  registration->InPlaceOn();
  const auto levels = static_cast<unsigned>(s.shrinkFactors.size());
  registration->SetNumberOfLevels(levels);
  RegistrationType::ShrinkFactorsArrayType shrink(levels);
  RegistrationType::SmoothingSigmasArrayType sigmas(levels);
  for (unsigned l = 0; l < levels; ++l) {
    shrink[l] = s.shrinkFactors[l];
    sigmas[l] = s.smoothingSigmas[l];
  }
  registration->SetShrinkFactorsPerLevel(shrink);
  registration->SetSmoothingSigmasPerLevel(sigmas);
  registration->SmoothingSigmasAreSpecifiedInPhysicalUnitsOff();
  registration->SetMetricSamplingStrategy(RegistrationType::MetricSamplingStrategyEnum::RANDOM);
  // Cap the samples of the finest level: the cost of an iteration is the number of samples.
  double finestVoxels = double(fixed->GetLargestPossibleRegion().GetNumberOfPixels());
  finestVoxels /= std::pow(double(s.shrinkFactors.back()), 3.0);
  registration->SetMetricSamplingPercentage(std::min(s.samplingFraction, double(s.maxSamples) / std::max(1.0, finestVoxels)));
  registration->MetricSamplingReinitializeSeed(static_cast<int>(s.seed));
  registration->SetNumberOfWorkUnits(s.threads);

  auto observer = LevelObserver::New();
  observer->m_Optimizer = optimizer;
  observer->m_InitialStep = s.initialStepMm;
  observer->m_MinimumStep = s.minimumStepMm;
  observer->m_Levels = levels;
  observer->m_Progress = progress;
  registration->AddObserver(itk::MultiResolutionIterationEvent(), observer);

  try {
    registration->Update();
  } catch (const itk::ExceptionObject& e) {
    throw ProcessingError(fmt::format("rigid registration failed: {}", e.GetDescription()));
  }
  RegistrationResult result;
  result.baselineToFollowup = toRigid(registration->GetTransform());
  result.finalMetricValue = optimizer->GetValue();
  result.iterations = static_cast<unsigned>(optimizer->GetCurrentIteration());
  result.stopCondition = optimizer->GetStopConditionDescription();
  const auto size = fixed->GetLargestPossibleRegion().GetSize();
  for (unsigned a = 0; a < 3; ++a) result.fixedVoxels[a] = size[a];
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (!std::isfinite(result.finalMetricValue))
    throw ProcessingError("rigid registration failed: the metric is not finite (do the images overlap?)");
  progress.report(1.0, "registration done");
  return result;
}

Vec3 imageCentre(const ImageType* image) {
  const auto size = image->GetLargestPossibleRegion().GetSize();
  itk::ContinuousIndex<double, 3> index;
  for (unsigned a = 0; a < 3; ++a) index[a] = 0.5 * (double(size[a]) - 1.0);
  ImageType::PointType p;
  image->TransformContinuousIndexToPhysicalPoint(index, p);
  return {p[0], p[1], p[2]};
}

ImageType::Pointer shiftedNonNegative(ImageType::Pointer image) {
  auto minMax = itk::MinimumMaximumImageCalculator<ImageType>::New();
  minMax->SetImage(image);
  minMax->ComputeMinimum();
  if (minMax->GetMinimum() >= 0.0f) return image;
  auto shift = itk::ShiftScaleImageFilter<ImageType, ImageType>::New();
  shift->SetInput(image);
  shift->SetShift(-double(minMax->GetMinimum()));
  shift->Update();
  return shift->GetOutput();
}

} // namespace

RegistrationResult registerRigid(const Volume& baseline, const Volume& followup, const RegistrationOptions& options,
                                 Progress progress) {
  baseline.geometry.validate("baseline volume");
  followup.geometry.validate("follow-up volume");
  const auto start = std::chrono::steady_clock::now();
  ImageType::Pointer fixed = clampBelow(itkbridge::toItk(baseline), options.clampBelow, options.threads);
  ImageType::Pointer moving = clampBelow(itkbridge::toItk(followup), options.clampBelow, options.threads);
  fixed = binShrink(fixed, options.globalVoxelSizeMm, options.threads);
  moving = binShrink(moving, options.globalVoxelSizeMm, options.threads);

  auto transform = TransformType::New();
  if (options.initialiser == RegistrationInitialiser::Identity) {
    TransformType::InputPointType c;
    const Vec3 centre = imageCentre(fixed);
    for (unsigned a = 0; a < 3; ++a) c[a] = centre[a];
    transform->SetCenter(c);
  } else {
    using Initializer = itk::CenteredTransformInitializer<TransformType, ImageType, ImageType>;
    auto initializer = Initializer::New();
    initializer->SetTransform(transform);
    if (options.initialiser == RegistrationInitialiser::Moments) {
      initializer->SetFixedImage(shiftedNonNegative(fixed));
      initializer->SetMovingImage(shiftedNonNegative(moving));
      initializer->MomentsOn();
    } else {
      initializer->SetFixedImage(fixed);
      initializer->SetMovingImage(moving);
      initializer->GeometryOn();
    }
    try {
      initializer->InitializeTransform();
    } catch (const itk::ExceptionObject& e) {
      throw ProcessingError(fmt::format("rigid registration: centred initialisation failed: {}", e.GetDescription()));
    }
  }
  LevelSettings s{options.shrinkFactors, options.smoothingSigmas, options.histogramBins, options.samplingFraction,
                  options.maxSamples,    options.maxIterations,   options.initialStepMm, options.minimumStepMm,
                  options.threads,       options.seed};
  RegistrationResult result = runRegistration(fixed, moving, transform, s, progress);
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return result;
}

std::vector<RegistrationResult> registerRigidLocal(const Volume& baseline, const Volume& followup,
                                                   const std::vector<RegionOfInterest>& regions,
                                                   const RigidTransform& initial, const LocalRegistrationOptions& options,
                                                   Progress progress) {
  baseline.geometry.validate("baseline volume");
  followup.geometry.validate("follow-up volume");
  // Both images are cropped before clamping and the pyramid: the registration method smooths
  // and shrinks the whole moving image per level, which on a full CT costs more than the
  // optimisation itself.
  ImageType::Pointer fixedFull = itkbridge::toItk(baseline);
  ImageType::Pointer movingFull = itkbridge::toItk(followup);
  // Where the follow-up has data, in baseline LPS under the initial transform (the box of its
  // voxel-centre corners carried back; close to the inner box for the small rotations of a
  // repositioned patient, and the edge margin covers the rest).
  Vec3 followupMin{std::numeric_limits<double>::max(), std::numeric_limits<double>::max(),
                   std::numeric_limits<double>::max()};
  Vec3 followupMax = -followupMin;
  const RigidTransform back = initial.inverse();
  for (int corner = 0; corner < 8; ++corner) {
    const auto& n = followup.geometry.size;
    const Vec3 p = back.apply(followup.geometry.indexToPoint(
        Vec3{corner & 1 ? double(n[0] - 1) : 0.0, corner & 2 ? double(n[1] - 1) : 0.0, corner & 4 ? double(n[2] - 1) : 0.0}));
    for (std::size_t a = 0; a < 3; ++a) {
      followupMin[a] = std::min(followupMin[a], p[a]);
      followupMax[a] = std::max(followupMax[a], p[a]);
    }
  }
  std::vector<RegistrationResult> results;
  for (std::size_t r = 0; r < regions.size(); ++r) {
    RegionOfInterest roi = regions[r];
    const Vec3 inset{options.followupEdgeMarginMm, options.followupEdgeMarginMm, options.followupEdgeMarginMm};
    roi.minimum = {std::max(roi.minimum.x, followupMin.x + inset.x), std::max(roi.minimum.y, followupMin.y + inset.y),
                   std::max(roi.minimum.z, followupMin.z + inset.z)};
    roi.maximum = {std::min(roi.maximum.x, followupMax.x - inset.x), std::min(roi.maximum.y, followupMax.y - inset.y),
                   std::min(roi.maximum.z, followupMax.z - inset.z)};
    if (roi.minimum.x >= roi.maximum.x || roi.minimum.y >= roi.maximum.y || roi.minimum.z >= roi.maximum.z)
      throw InputError(fmt::format("local registration: region '{}' {}..{} lies outside the follow-up scan", roi.name,
                                   formatPoint(regions[r].minimum), formatPoint(regions[r].maximum)));
    const auto start = std::chrono::steady_clock::now();
    // Index box of the region on the baseline grid (all 8 corners: the grid may be oblique).
    std::array<long, 3> lo{std::numeric_limits<long>::max(), std::numeric_limits<long>::max(),
                           std::numeric_limits<long>::max()};
    std::array<long, 3> hi{std::numeric_limits<long>::min(), std::numeric_limits<long>::min(),
                           std::numeric_limits<long>::min()};
    for (int corner = 0; corner < 8; ++corner) {
      const Vec3 p{corner & 1 ? roi.maximum.x : roi.minimum.x, corner & 2 ? roi.maximum.y : roi.minimum.y,
                   corner & 4 ? roi.maximum.z : roi.minimum.z};
      const Vec3 index = baseline.geometry.pointToIndex(p);
      for (std::size_t a = 0; a < 3; ++a) {
        lo[a] = std::min(lo[a], static_cast<long>(std::floor(index[a])));
        hi[a] = std::max(hi[a], static_cast<long>(std::ceil(index[a])));
      }
    }
    ImageType::RegionType crop;
    for (unsigned a = 0; a < 3; ++a) {
      const long first = std::max(0L, lo[a]);
      const long last = std::min(static_cast<long>(baseline.geometry.size[a]) - 1, hi[a]);
      if (last < first)
        throw InputError(fmt::format("local registration: region '{}' {}..{} lies outside the baseline grid", roi.name,
                                     formatPoint(roi.minimum), formatPoint(roi.maximum)));
      crop.SetIndex(a, first);
      crop.SetSize(a, static_cast<itk::SizeValueType>(last - first + 1));
    }
    auto extract = itk::RegionOfInterestImageFilter<ImageType, ImageType>::New();
    extract->SetInput(fixedFull);
    extract->SetRegionOfInterest(crop);
    extract->Update();
    ImageType::Pointer fixed = clampBelow(extract->GetOutput(), options.clampBelow, options.threads);
    // The moving crop: the region carried by the initial transform, with room to move.
    constexpr double kRoomMm = 20.0;
    std::array<long, 3> mlo{std::numeric_limits<long>::max(), std::numeric_limits<long>::max(),
                            std::numeric_limits<long>::max()};
    std::array<long, 3> mhi{std::numeric_limits<long>::min(), std::numeric_limits<long>::min(),
                            std::numeric_limits<long>::min()};
    for (int corner = 0; corner < 8; ++corner) {
      const Vec3 p{corner & 1 ? roi.maximum.x + kRoomMm : roi.minimum.x - kRoomMm,
                   corner & 2 ? roi.maximum.y + kRoomMm : roi.minimum.y - kRoomMm,
                   corner & 4 ? roi.maximum.z + kRoomMm : roi.minimum.z - kRoomMm};
      const Vec3 index = followup.geometry.pointToIndex(initial.apply(p));
      for (std::size_t a = 0; a < 3; ++a) {
        mlo[a] = std::min(mlo[a], static_cast<long>(std::floor(index[a])));
        mhi[a] = std::max(mhi[a], static_cast<long>(std::ceil(index[a])));
      }
    }
    ImageType::RegionType movingCrop;
    for (unsigned a = 0; a < 3; ++a) {
      const long first = std::max(0L, mlo[a]);
      const long last = std::min(static_cast<long>(followup.geometry.size[a]) - 1, mhi[a]);
      movingCrop.SetIndex(a, first);
      movingCrop.SetSize(a, static_cast<itk::SizeValueType>(std::max(1L, last - first + 1)));
    }
    auto extractMoving = itk::RegionOfInterestImageFilter<ImageType, ImageType>::New();
    extractMoving->SetInput(movingFull);
    extractMoving->SetRegionOfInterest(movingCrop);
    extractMoving->Update();
    ImageType::Pointer moving = clampBelow(extractMoving->GetOutput(), options.clampBelow, options.threads);
    // The pyramid needs a few voxels per axis at its coarsest level.
    std::vector<unsigned> shrinkFactors = options.shrinkFactors;
    std::vector<double> sigmas = options.smoothingSigmas;
    const auto smallest = *std::min_element(crop.GetSize().begin(), crop.GetSize().end());
    while (shrinkFactors.size() > 1 && smallest / shrinkFactors.front() < 8) {
      shrinkFactors.erase(shrinkFactors.begin());
      sigmas.erase(sigmas.begin());
    }
    const Vec3 centre = (roi.minimum + roi.maximum) * 0.5;
    LevelSettings s{shrinkFactors,         sigmas,                options.histogramBins, options.samplingFraction,
                    options.maxSamples,    options.maxIterations, options.initialStepMm, options.minimumStepMm,
                    options.threads,       options.seed};
    RegistrationResult result = runRegistration(
        fixed, moving, fromRigid(initial, centre), s,
        progress.sub(double(r) / double(regions.size()), double(r + 1) / double(regions.size())));
    result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    results.push_back(result);
  }
  return results;
}

RegionOfInterest regionAroundLabels(const LabelMap& labels, const std::vector<std::uint16_t>& values, double marginMm,
                                    const std::string& name) {
  const ImageGeometry& g = labels.geometry;
  Vec3 lo{std::numeric_limits<double>::max(), std::numeric_limits<double>::max(), std::numeric_limits<double>::max()};
  Vec3 hi = -lo;
  bool found = false;
  std::array<std::size_t, 3> imin{g.size}, imax{0, 0, 0};
  for (std::size_t k = 0, n = 0; k < g.size[2]; ++k)
    for (std::size_t j = 0; j < g.size[1]; ++j)
      for (std::size_t i = 0; i < g.size[0]; ++i, ++n) {
        const std::uint16_t v = labels.voxels[n];
        if (v == 0 || std::find(values.begin(), values.end(), v) == values.end()) continue;
        found = true;
        imin = {std::min(imin[0], i), std::min(imin[1], j), std::min(imin[2], k)};
        imax = {std::max(imax[0], i), std::max(imax[1], j), std::max(imax[2], k)};
      }
  if (!found) {
    std::string list;
    for (std::uint16_t v : values) list += (list.empty() ? "" : ", ") + std::to_string(v);
    throw InputError(fmt::format("label map has no voxel with label {} (region '{}')", list, name));
  }
  // Corners of the index box grown by half a voxel: the union of the voxel boxes.
  for (int corner = 0; corner < 8; ++corner) {
    const Vec3 index{corner & 1 ? imax[0] + 0.5 : imin[0] - 0.5, corner & 2 ? imax[1] + 0.5 : imin[1] - 0.5,
                     corner & 4 ? imax[2] + 0.5 : imin[2] - 0.5};
    const Vec3 p = g.indexToPoint(index);
    for (std::size_t a = 0; a < 3; ++a) {
      lo[a] = std::min(lo[a], p[a]);
      hi[a] = std::max(hi[a], p[a]);
    }
  }
  const Vec3 margin{marginMm, marginMm, marginMm};
  return {name, lo - margin, hi + margin};
}

double meanPointDistanceMm(const RigidTransform& estimated, const RigidTransform& truth, const std::vector<Vec3>& points) {
  if (points.empty()) return 0.0;
  double sum = 0.0;
  for (const Vec3& p : points) sum += distance(estimated.apply(p), truth.apply(p));
  return sum / double(points.size());
}

} // namespace lesion::longitudinal
