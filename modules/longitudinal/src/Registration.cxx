// Rigid and B-spline registration (ITK v4). Every ITK template of the module's registration
// lives here.
#include "lesion/longitudinal/Registration.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>

#include <fmt/format.h>
#include <itkBSplineTransform.h>
#include <itkBSplineTransformInitializer.h>
#include <itkBinShrinkImageFilter.h>
#include <itkCenteredTransformInitializer.h>
#include <itkCommand.h>
#include <itkCompositeTransform.h>
#include <itkImageRegistrationMethodv4.h>
#include <itkLBFGSBOptimizerv4.h>
#include <itkImageRegionConstIteratorWithIndex.h>
#include <itkMattesMutualInformationImageToImageMetricv4.h>
#include <itkMinimumMaximumImageCalculator.h>
#include <itkRegionOfInterestImageFilter.h>
#include <itkRegistrationParameterScalesFromPhysicalShift.h>
#include <itkRegularStepGradientDescentOptimizerv4.h>
#include <itkShiftScaleImageFilter.h>
#include <itkThresholdImageFilter.h>
#include <itkVersorRigid3DTransform.h>

#include "lesion/core/Error.h"
#include "lesion/core/GridBounds.h"
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

/// Clamps intensities to [below, above] (either bound optional) before the metric.
ImageType::Pointer clampBelow(ImageType::Pointer image, std::optional<float> value, unsigned threads,
                              std::optional<float> above = std::nullopt) {
  if (!value && !above) return image;
  auto clamp = itk::ThresholdImageFilter<ImageType>::New();
  clamp->SetInput(image);
  clamp->SetNumberOfWorkUnits(threads);
  if (value) {
    clamp->ThresholdBelow(*value);
    clamp->SetOutsideValue(*value);
  }
  if (above) {
    if (value) {
      clamp->Update();
      return clampBelow(clamp->GetOutput(), std::nullopt, threads, above);
    }
    clamp->ThresholdAbove(*above);
    clamp->SetOutsideValue(*above);
  }
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

MetricType::Pointer newMetric(unsigned histogramBins, unsigned threads) {
  auto metric = MetricType::New();
  metric->SetNumberOfHistogramBins(histogramBins);
  metric->SetUseMovingImageGradientFilter(false);
  metric->SetUseFixedImageGradientFilter(false);
  metric->SetMaximumNumberOfWorkUnits(threads);
  return metric;
}

/// Pyramid (shrink factors, smoothing in voxels) and random metric sampling, capped at
/// s.maxSamples at the finest level: the cost of an iteration is the number of samples.
template <typename Method>
void setUpLevels(Method& registration, const ImageType* fixed, const LevelSettings& s) {
  const auto levels = static_cast<unsigned>(s.shrinkFactors.size());
  registration.SetNumberOfLevels(levels);
  typename Method::ShrinkFactorsArrayType shrink(levels);
  typename Method::SmoothingSigmasArrayType sigmas(levels);
  for (unsigned l = 0; l < levels; ++l) {
    shrink[l] = s.shrinkFactors[l];
    sigmas[l] = s.smoothingSigmas[l];
  }
  registration.SetShrinkFactorsPerLevel(shrink);
  registration.SetSmoothingSigmasPerLevel(sigmas);
  registration.SmoothingSigmasAreSpecifiedInPhysicalUnitsOff();
  registration.SetMetricSamplingStrategy(Method::MetricSamplingStrategyEnum::RANDOM);
  double finestVoxels = double(fixed->GetLargestPossibleRegion().GetNumberOfPixels());
  finestVoxels /= std::pow(double(s.shrinkFactors.back()), 3.0);
  registration.SetMetricSamplingPercentage(std::min(s.samplingFraction, double(s.maxSamples) / std::max(1.0, finestVoxels)));
  registration.MetricSamplingReinitializeSeed(static_cast<int>(s.seed));
  registration.SetNumberOfWorkUnits(s.threads);
}

void checkLevels(const LevelSettings& s) {
  if (s.shrinkFactors.empty() || s.shrinkFactors.size() != s.smoothingSigmas.size())
    throw InputError(fmt::format("registration: expected as many smoothing sigmas as shrink factors, got {} and {}",
                                 s.smoothingSigmas.size(), s.shrinkFactors.size()));
}

RegistrationResult runRegistration(ImageType::Pointer fixed, ImageType::Pointer moving, TransformType::Pointer transform,
                                   const LevelSettings& s, Progress progress) {
  checkLevels(s);
  const auto start = std::chrono::steady_clock::now();
  auto metric = newMetric(s.histogramBins, s.threads);

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
  setUpLevels(*registration, fixed, s);

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

using BSplineType = itk::BSplineTransform<double, 3, 3>;

/// L-BFGS-B without ITK's console warning that it ignores scales (libraries never print): every
/// B-spline parameter is a displacement in mm, so unit scales are what it needs anyway.
class QuietLbfgsb : public itk::LBFGSBOptimizerv4 {
public:
  using Self = QuietLbfgsb;
  using Pointer = itk::SmartPointer<Self>;
  itkNewMacro(Self);
  void SetScales(const ScalesType&) override {
    m_Scales.SetSize(m_Metric->GetNumberOfLocalParameters());
    m_Scales.Fill(1.0);
    m_ScalesAreIdentity = true;
  }
};

/// A region's fixed and moving images at full resolution, ready for the metric.
struct RegionImages {
  ImageType::Pointer fixed;
  ImageType::Pointer moving;
  RegionOfInterest region; ///< clipped to where the follow-up has data
};

/// Crops both images to one region before clamping and the pyramid (the registration method
/// smooths and shrinks the whole moving image per level, which on a full CT costs more than the
/// optimisation itself). The region is first clipped to where the follow-up has data under
/// `initial` less `edgeMarginMm` (samples that leave the follow-up during optimisation bias the
/// metric); the moving crop is the region carried by `initial` with 20 mm room to move.
RegionImages cropRegion(const Volume& baseline, const Volume& followup, const ImageType::Pointer& fixedFull,
                        const ImageType::Pointer& movingFull, const RegionOfInterest& region,
                        const RigidTransform& initial, double edgeMarginMm, std::optional<float> clamp, unsigned threads,
                        std::optional<float> clampAbove = std::nullopt) {
  // The box of the follow-up's voxel-centre corners carried back (close to the inner box for the
  // small rotations of a repositioned patient; the edge margin covers the rest).
  Vec3 followupMin{std::numeric_limits<double>::max(), std::numeric_limits<double>::max(),
                   std::numeric_limits<double>::max()};
  Vec3 followupMax = -followupMin;
  const RigidTransform back = initial.inverse();
  const auto& n = followup.geometry.size;
  for (int corner = 0; corner < 8; ++corner) {
    const Vec3 p = back.apply(followup.geometry.indexToPoint(
        Vec3{corner & 1 ? double(n[0] - 1) : 0.0, corner & 2 ? double(n[1] - 1) : 0.0, corner & 4 ? double(n[2] - 1) : 0.0}));
    for (std::size_t a = 0; a < 3; ++a) {
      followupMin[a] = std::min(followupMin[a], p[a]);
      followupMax[a] = std::max(followupMax[a], p[a]);
    }
  }
  RegionOfInterest roi = region;
  for (std::size_t a = 0; a < 3; ++a) {
    roi.minimum[a] = std::max(roi.minimum[a], followupMin[a] + edgeMarginMm);
    roi.maximum[a] = std::min(roi.maximum[a], followupMax[a] - edgeMarginMm);
  }
  if (roi.minimum.x >= roi.maximum.x || roi.minimum.y >= roi.maximum.y || roi.minimum.z >= roi.maximum.z)
    throw InputError(fmt::format("local registration: region '{}' {}..{} lies outside the follow-up scan", roi.name,
                                 formatPoint(region.minimum), formatPoint(region.maximum)));
  // Index box on `grid` of the 8 corners of [lo, hi] mapped by `map` (the grid may be oblique).
  auto indexBox = [](const ImageGeometry& grid, const Vec3& lo, const Vec3& hi, const auto& map) {
    std::array<long, 3> first{std::numeric_limits<long>::max(), std::numeric_limits<long>::max(),
                              std::numeric_limits<long>::max()};
    std::array<long, 3> last{std::numeric_limits<long>::min(), std::numeric_limits<long>::min(),
                             std::numeric_limits<long>::min()};
    for (int corner = 0; corner < 8; ++corner) {
      const Vec3 p{corner & 1 ? hi.x : lo.x, corner & 2 ? hi.y : lo.y, corner & 4 ? hi.z : lo.z};
      const Vec3 index = grid.pointToIndex(map(p));
      for (std::size_t a = 0; a < 3; ++a) {
        first[a] = std::min(first[a], static_cast<long>(std::floor(index[a])));
        last[a] = std::max(last[a], static_cast<long>(std::ceil(index[a])));
      }
    }
    ImageType::RegionType crop;
    bool empty = false;
    for (unsigned a = 0; a < 3; ++a) {
      const long f = std::max(0L, first[a]);
      const long l = std::min(static_cast<long>(grid.size[a]) - 1, last[a]);
      empty = empty || l < f;
      crop.SetIndex(a, f);
      crop.SetSize(a, static_cast<itk::SizeValueType>(std::max(1L, l - f + 1)));
    }
    return std::make_pair(crop, empty);
  };
  auto extract = [&](const ImageType::Pointer& image, const ImageType::RegionType& crop) {
    auto filter = itk::RegionOfInterestImageFilter<ImageType, ImageType>::New();
    filter->SetInput(image);
    filter->SetRegionOfInterest(crop);
    filter->Update();
    return clampBelow(filter->GetOutput(), clamp, threads, clampAbove);
  };
  const auto [fixedCrop, outside] = indexBox(baseline.geometry, roi.minimum, roi.maximum, [](const Vec3& p) { return p; });
  if (outside)
    throw InputError(fmt::format("local registration: region '{}' {}..{} lies outside the baseline grid", roi.name,
                                 formatPoint(roi.minimum), formatPoint(roi.maximum)));
  constexpr double kRoomMm = 20.0;
  const Vec3 room{kRoomMm, kRoomMm, kRoomMm};
  const auto movingCrop = indexBox(followup.geometry, roi.minimum - room, roi.maximum + room,
                                   [&initial](const Vec3& p) { return initial.apply(p); }).first;
  return {extract(fixedFull, fixedCrop), extract(movingFull, movingCrop), roi};
}

/// The pyramid needs a few voxels per axis at its coarsest level: drops the coarsest levels a
/// small region cannot hold.
void fitPyramid(LevelSettings& s, const ImageType* fixed) {
  const auto size = fixed->GetLargestPossibleRegion().GetSize();
  const auto smallest = *std::min_element(size.begin(), size.end());
  while (s.shrinkFactors.size() > 1 && smallest / s.shrinkFactors.front() < 8) {
    s.shrinkFactors.erase(s.shrinkFactors.begin());
    s.smoothingSigmas.erase(s.smoothingSigmas.begin());
  }
}

/// Mattes MI of `moving` under `transform` over every voxel of `fixed` (negated, as ITK).
double denseMetricValue(const ImageType::Pointer& fixed, const ImageType::Pointer& moving,
                        itk::Transform<double, 3, 3>* transform, unsigned histogramBins, unsigned threads) {
  auto metric = newMetric(histogramBins, threads);
  metric->SetFixedImage(fixed);
  metric->SetMovingImage(moving);
  metric->SetMovingTransform(transform);
  metric->SetVirtualDomainFromImage(fixed);
  try {
    metric->Initialize();
    return metric->GetValue();
  } catch (const itk::ExceptionObject& e) {
    throw ProcessingError(fmt::format("registration metric failed: {}", e.GetDescription()));
  }
}

} // namespace

void requireRegistrable(const ImageGeometry& g, std::string_view what) {
  // Measured from 4 x 4 x 4 to 12 x 12 x 8 voxels; 12 x 12 x 12, 24 x 24 x 8, 40 x 40 x 4 and
  // 256 x 256 x 5 register.
  constexpr std::size_t kMinVoxelsPerAxis = 4;
  constexpr std::size_t kMinVoxels = 4096;
  const auto& n = g.size;
  if (std::min({n[0], n[1], n[2]}) >= kMinVoxelsPerAxis && g.voxelCount() >= kMinVoxels)
    return;
  throw InputError(fmt::format("{} ({} x {} x {} voxels) is too small to register: a follow-up needs scans of at "
                               "least {} voxels along each axis and {} in all",
                               what, n[0], n[1], n[2], kMinVoxelsPerAxis, kMinVoxels));
}

RegistrationResult registerRigid(const Volume& baseline, const Volume& followup, const RegistrationOptions& options,
                                 Progress progress) {
  baseline.geometry.validate("baseline volume");
  followup.geometry.validate("follow-up volume");
  requireRegistrable(baseline.geometry, "the baseline");
  requireRegistrable(followup.geometry, "the follow-up");
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
  const ImageType::Pointer fixedFull = itkbridge::toItk(baseline);
  const ImageType::Pointer movingFull = itkbridge::toItk(followup);
  std::vector<RegistrationResult> results;
  for (std::size_t r = 0; r < regions.size(); ++r) {
    const auto start = std::chrono::steady_clock::now();
    const RegionImages crop = cropRegion(baseline, followup, fixedFull, movingFull, regions[r], initial,
                                         options.followupEdgeMarginMm, options.clampBelow, options.threads);
    LevelSettings s{options.shrinkFactors,  options.smoothingSigmas, options.histogramBins, options.samplingFraction,
                    options.maxSamples,     options.maxIterations,   options.initialStepMm, options.minimumStepMm,
                    options.threads,        options.seed};
    fitPyramid(s, crop.fixed);
    const Vec3 centre = (crop.region.minimum + crop.region.maximum) * 0.5;
    RegistrationResult result = runRegistration(
        crop.fixed, crop.moving, fromRigid(initial, centre), s,
        progress.sub(double(r) / double(regions.size()), double(r + 1) / double(regions.size())));
    result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    results.push_back(result);
  }
  return results;
}

DeformableRegistrationResult registerBSplineLocal(const Volume& baseline, const Volume& followup,
                                                  const RegionOfInterest& region, const RigidTransform& rigid,
                                                  const DeformableRegistrationOptions& options, Progress progress) {
  baseline.geometry.validate("baseline volume");
  followup.geometry.validate("follow-up volume");
  if (options.meshSize < 1)
    throw InputError(fmt::format("B-spline registration: mesh size must be at least 1, got {}", options.meshSize));
  const auto start = std::chrono::steady_clock::now();
  const RegionImages crop = cropRegion(baseline, followup, itkbridge::toItk(baseline), itkbridge::toItk(followup), region,
                                       rigid, options.followupEdgeMarginMm, options.clampBelow, options.threads,
                                       options.clampAbove);
  LevelSettings s{options.shrinkFactors, options.smoothingSigmas, options.histogramBins, options.samplingFraction,
                  options.maxSamples,    options.maxIterations,   1.0,                   1e-3,
                  options.threads,       options.seed};
  checkLevels(s);
  fitPyramid(s, crop.fixed);

  // The rigid part stays fixed (moving initial transform); the B-spline is optimised and is
  // applied first: p -> rigid(p + d(p)).
  const Vec3 centre = (crop.region.minimum + crop.region.maximum) * 0.5;
  const TransformType::Pointer rigidItk = fromRigid(rigid, centre);
  auto bspline = BSplineType::New();
  auto initializer = itk::BSplineTransformInitializer<BSplineType, ImageType>::New();
  BSplineType::MeshSizeType mesh;
  mesh.Fill(options.meshSize);
  initializer->SetTransform(bspline);
  initializer->SetImage(crop.fixed);
  initializer->SetTransformDomainMeshSize(mesh);
  initializer->InitializeTransform();
  bspline->SetIdentity();

  auto metric = newMetric(options.histogramBins, options.threads);
  auto optimizer = QuietLbfgsb::New();
  const unsigned parameters = bspline->GetNumberOfParameters();
  // The outer ring of control points lies outside the region and is seen only by the few
  // samples near its border: left free, it follows noise (and interpolation) there. Held at
  // zero it keeps d small at the border, where the transform returns to the rigid one.
  itk::LBFGSBOptimizerv4::BoundSelectionType selection(parameters);
  itk::LBFGSBOptimizerv4::BoundValueType bounds(parameters);
  selection.Fill(itk::LBFGSBOptimizerv4::UNBOUNDED);
  bounds.Fill(0.0);
  const auto grid = bspline->GetCoefficientImages()[0]->GetLargestPossibleRegion().GetSize();
  const std::size_t points = grid[0] * grid[1] * grid[2];
  for (std::size_t n = 0; n < points; ++n) {
    const std::size_t i = n % grid[0], j = (n / grid[0]) % grid[1], k = n / (grid[0] * grid[1]);
    const bool outer = i == 0 || j == 0 || k == 0 || i + 1 == grid[0] || j + 1 == grid[1] || k + 1 == grid[2];
    if (outer)
      for (std::size_t axis = 0; axis < 3; ++axis) selection[axis * points + n] = itk::LBFGSBOptimizerv4::BOTHBOUNDED;
  }
  optimizer->SetBoundSelection(selection);
  optimizer->SetLowerBound(bounds);
  optimizer->SetUpperBound(bounds);
  optimizer->SetCostFunctionConvergenceFactor(1e7);
  optimizer->SetGradientConvergenceTolerance(1e-6);
  optimizer->SetNumberOfIterations(options.maxIterations);
  optimizer->SetMaximumNumberOfFunctionEvaluations(4 * options.maxIterations);
  optimizer->SetMaximumNumberOfCorrections(5);

  using BSplineRegistration = itk::ImageRegistrationMethodv4<ImageType, ImageType, BSplineType>;
  auto registration = BSplineRegistration::New();
  registration->SetFixedImage(crop.fixed);
  registration->SetMovingImage(crop.moving);
  registration->SetMetric(metric);
  registration->SetOptimizer(optimizer);
  registration->SetMovingInitialTransform(rigidItk);
  registration->SetInitialTransform(bspline);
  registration->InPlaceOn();
  setUpLevels(*registration, crop.fixed, s);
  progress.report(0.0, "B-spline registration");
  try {
    registration->Update();
  } catch (const itk::ExceptionObject& e) {
    throw ProcessingError(fmt::format("B-spline registration of region '{}' failed: {}", region.name, e.GetDescription()));
  }

  DeformableRegistrationResult result;
  DeformableTransform& t = result.baselineToFollowup;
  t.rigid = rigid;
  BSplineType* fitted = registration->GetModifiableTransform();
  const auto fixedParameters = fitted->GetFixedParameters(); // size, origin, spacing, direction
  for (unsigned a = 0; a < 3; ++a) {
    t.controlGrid.size[a] = static_cast<std::size_t>(fixedParameters[a]);
    t.controlGrid.origin[a] = fixedParameters[3 + a];
    t.controlGrid.spacing[a] = fixedParameters[6 + a];
    for (unsigned b = 0; b < 3; ++b) t.controlGrid.direction(a, b) = fixedParameters[9 + 3 * a + b];
  }
  const auto& p = fitted->GetParameters(); // all x coefficients, then all y, then all z
  const std::size_t n = t.controlGrid.voxelCount();
  t.coefficients.resize(n);
  for (std::size_t c = 0; c < n; ++c) t.coefficients[c] = {p[c], p[n + c], p[2 * n + c]};

  // Both figures on every voxel of the region at full resolution, so they compare.
  auto composite = itk::CompositeTransform<double, 3>::New();
  composite->AddTransform(rigidItk);
  composite->AddTransform(fitted);
  result.rigidMetricValue = denseMetricValue(crop.fixed, crop.moving, rigidItk, options.histogramBins, options.threads);
  result.finalMetricValue = denseMetricValue(crop.fixed, crop.moving, composite, options.histogramBins, options.threads);
  result.iterations = static_cast<unsigned>(optimizer->GetCurrentIteration());
  result.stopCondition = optimizer->GetStopConditionDescription();
  const auto size = crop.fixed->GetLargestPossibleRegion().GetSize();
  for (unsigned a = 0; a < 3; ++a) result.fixedVoxels[a] = size[a];
  itk::ImageRegionConstIteratorWithIndex<ImageType> it(crop.fixed, crop.fixed->GetLargestPossibleRegion());
  for (; !it.IsAtEnd(); ++it) {
    ImageType::PointType q;
    crop.fixed->TransformIndexToPhysicalPoint(it.GetIndex(), q);
    result.maxDisplacementMm = std::max(result.maxDisplacementMm, norm(t.displacement({q[0], q[1], q[2]})));
  }
  if (!std::isfinite(result.finalMetricValue))
    throw ProcessingError(fmt::format("B-spline registration of region '{}' failed: the metric is not finite",
                                      region.name));
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  progress.report(1.0, "B-spline registration done");
  return result;
}

Vec3 DeformableTransform::displacement(const Vec3& p) const {
  const auto& n = controlGrid.size;
  if (coefficients.empty() || coefficients.size() != controlGrid.voxelCount()) return {};
  const Vec3 index = controlGrid.pointToIndex(p);
  // ITK's valid region for a cubic B-spline: 1 <= index < size - 2 along every axis.
  std::array<long, 3> first{};
  std::array<std::array<double, 4>, 3> weights{};
  for (std::size_t a = 0; a < 3; ++a) {
    if (index[a] < 1.0 || index[a] >= double(n[a]) - 2.0) return {};
    first[a] = static_cast<long>(std::floor(index[a] - 1.0));
    double x = index[a] - double(first[a]);
    for (std::size_t k = 0; k < 4; ++k, x -= 1.0) {
      const double u = std::abs(x);
      weights[a][k] = u < 1.0 ? (4.0 - 6.0 * u * u + 3.0 * u * u * u) / 6.0 : u < 2.0 ? (2.0 - u) * (2.0 - u) * (2.0 - u) / 6.0 : 0.0;
    }
  }
  Vec3 d{};
  for (std::size_t c = 0; c < 4; ++c)
    for (std::size_t b = 0; b < 4; ++b) {
      const double wbc = weights[1][b] * weights[2][c];
      for (std::size_t a = 0; a < 4; ++a)
        d += coefficients[controlGrid.linearIndex(std::size_t(first[0]) + a, std::size_t(first[1]) + b,
                                                  std::size_t(first[2]) + c)] *
             (weights[0][a] * wbc);
    }
  return d;
}

Vec3 DeformableTransform::applyInverse(const Vec3& q) const {
  const Vec3 r = rigid.inverse().apply(q);
  Vec3 p = r;
  for (int iteration = 0; iteration < 50; ++iteration) {
    const Vec3 next = r - displacement(p);
    const double step = distance(next, p);
    p = next;
    if (step < 1e-4) break;
  }
  return p;
}

double DeformableTransform::maxDisplacementBoundMm() const {
  double m = 0.0;
  for (const Vec3& c : coefficients) m = std::max(m, norm(c));
  return m;
}

RegionOfInterest regionAroundLabels(const LabelMap& labels, const std::vector<std::uint16_t>& values, double marginMm,
                                    const std::string& name) {
  const ImageGeometry& g = labels.geometry;
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
  const auto [lo, hi] = voxelBoxBoundsLps(g, {double(imin[0]), double(imin[1]), double(imin[2])},
                                          {double(imax[0]), double(imax[1]), double(imax[2])});
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
