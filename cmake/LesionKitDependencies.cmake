# The only place LesionKit calls find_package. Everything comes from Debian 12 packages
# (scripts/install-deps.sh). Heavy toolkits are wrapped in INTERFACE targets so modules say
# which one they need (lesion::dep_itk, ...) and nothing leaks into the others' include paths.

find_package(Threads REQUIRED)
find_package(fmt REQUIRED)
find_package(nlohmann_json 3.10 REQUIRED)
find_package(SQLite3 REQUIRED)
find_package(TBB REQUIRED)
find_package(ZLIB REQUIRED)
# PNG files of the QC pictures (qc): libpng, not OpenCV's imgcodecs, which pulls ~140 libraries.
find_package(PNG REQUIRED)
# Convex hulls for the 3D maximum diameter (measurement); C reentrant library only.
find_package(Qhull CONFIG REQUIRED)

find_package(ITK 5.2 REQUIRED COMPONENTS
  ITKCommon ITKIOImageBase ITKIONRRD ITKIONIFTI ITKImageGrid ITKImageIntensity
  ITKImageFilterBase ITKThresholding ITKSmoothing ITKAnisotropicSmoothing ITKCurvatureFlow
  ITKRegionGrowing ITKLevelSets ITKLabelMap ITKImageLabel ITKConnectedComponents
  ITKMathematicalMorphology ITKBinaryMathematicalMorphology ITKDistanceMap ITKBiasCorrection
  ITKRegistrationMethodsv4 ITKMetricsv4 ITKOptimizersv4 ITKTransform ITKImageStatistics
  ITKImageFunction ITKFastMarching ITKIOTransformBase ITKIOGDCM
  ITKGDCM) # GDCM headers/libraries: dicomio decodes JPEG 2000 (absent from Debian's DCMTK) with it
add_library(lesion_dep_itk INTERFACE)
add_library(lesion::dep_itk ALIAS lesion_dep_itk)
target_include_directories(lesion_dep_itk SYSTEM INTERFACE ${ITK_INCLUDE_DIRS})
target_link_libraries(lesion_dep_itk INTERFACE ${ITK_LIBRARIES})

find_package(VTK 9.1 REQUIRED COMPONENTS
  CommonCore CommonDataModel CommonExecutionModel FiltersCore FiltersGeneral FiltersGeometry
  FiltersModeling ImagingCore IOGeometry IOXML IOLegacy)
add_library(lesion_dep_vtk INTERFACE)
add_library(lesion::dep_vtk ALIAS lesion_dep_vtk)
target_link_libraries(lesion_dep_vtk INTERFACE ${VTK_LIBRARIES})

find_package(DCMTK REQUIRED CONFIG)
add_library(lesion_dep_dcmtk INTERFACE)
add_library(lesion::dep_dcmtk ALIAS lesion_dep_dcmtk)
target_link_libraries(lesion_dep_dcmtk INTERFACE DCMTK::dcmdata DCMTK::dcmimgle DCMTK::dcmimage
  DCMTK::dcmjpeg DCMTK::dcmjpls DCMTK::ofstd DCMTK::oflog)
# DCMTK's JPEG-LS codec carries its own CharLS, whose functions have the names of the system
# CharLS 2 that GDCM (JPEG 2000, below) loads; the dynamic linker binds DCMTK's calls to the one
# loaded first, and CharLS 2's signatures differ (lesionkit aborted in free() decoding NEMA's
# MR1_JLSL while the test binaries, linked in another order, decoded it). Every executable that
# decodes DICOM therefore names DCMTK's CharLS first. GDCM decodes only JPEG 2000 here, which
# does not call CharLS.
target_link_options(lesion_dep_dcmtk INTERFACE "LINKER:--push-state,--no-as-needed"
  "$<TARGET_FILE:DCMTK::dcmtkcharls>" "LINKER:--pop-state")
# DICOM SEG and SR (TID 1500) writers/readers: reporting only.
add_library(lesion_dep_dcmtk_objects INTERFACE)
add_library(lesion::dep_dcmtk_objects ALIAS lesion_dep_dcmtk_objects)
target_link_libraries(lesion_dep_dcmtk_objects INTERFACE DCMTK::dcmseg DCMTK::dcmfg DCMTK::dcmiod DCMTK::cmr
  DCMTK::dcmsr DCMTK::dcmdata DCMTK::ofstd DCMTK::oflog)
# DIMSE networking (C-FIND, C-GET, C-STORE as an SCU): pacs only.
add_library(lesion_dep_dcmtk_net INTERFACE)
add_library(lesion::dep_dcmtk_net ALIAS lesion_dep_dcmtk_net)
target_link_libraries(lesion_dep_dcmtk_net INTERFACE DCMTK::dcmnet lesion_dep_dcmtk)

# HTTP client for DICOMweb (QIDO-RS, WADO-RS, STOW-RS): pacs only.
find_package(CURL REQUIRED)

find_package(OpenCV 4 REQUIRED COMPONENTS core imgproc imgcodecs)
add_library(lesion_dep_opencv INTERFACE)
add_library(lesion::dep_opencv ALIAS lesion_dep_opencv)
target_include_directories(lesion_dep_opencv SYSTEM INTERFACE ${OpenCV_INCLUDE_DIRS})
target_link_libraries(lesion_dep_opencv INTERFACE ${OpenCV_LIBS})

if(LESIONKIT_BUILD_TESTS)
  find_package(GTest 1.12 REQUIRED)
endif()
if(LESIONKIT_BUILD_BENCH)
  find_package(benchmark REQUIRED)
endif()

# Peer and validation tools used by tests (Debian dicom3tools, dcmtk, dcm2niix).
find_program(LESIONKIT_DCIODVFY dciodvfy)
find_program(LESIONKIT_DCMDUMP dcmdump)
find_program(LESIONKIT_DCM2NIIX dcm2niix)
find_program(LESIONKIT_CHROMIUM chromium)
find_program(LESIONKIT_DSRDUMP dsrdump)
find_program(LESIONKIT_PYTHON3 python3 PATHS /usr/bin NO_DEFAULT_PATH)
# A real PACS on loopback for the pacs pull/push tests (Debian orthanc, orthanc-dicomweb).
find_program(LESIONKIT_ORTHANC Orthanc PATHS /usr/sbin)
find_file(LESIONKIT_ORTHANC_DICOMWEB libOrthancDicomWeb.so PATHS /usr/share/orthanc/plugins NO_DEFAULT_PATH)
