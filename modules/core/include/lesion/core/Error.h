#pragma once
/// \file Error.h
/// The one error hierarchy of LesionKit and the exit codes apps map it to.
/// Libraries throw these and never print or exit; apps catch them at the edge.

#include <stdexcept>
#include <string>

namespace lesion {

/// Documented process exit codes of every LesionKit executable.
enum class ExitCode : int {
  Ok = 0,                ///< success
  Usage = 1,             ///< wrong or missing command-line argument
  BadInput = 2,          ///< unreadable, corrupt or inconsistent input, unwritable output
  ProcessingFailure = 3, ///< the input was fine but the algorithm could not produce a trustworthy result
  /// A run over many items (a batch's patients) finished, but not every item has its result: the
  /// outputs hold the others and list the missing ones (failures.csv).
  SomeItemsFailed = 4
};

/// Base of all LesionKit errors. The message says what was expected and what was found.
class Error : public std::runtime_error {
public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
  [[nodiscard]] virtual ExitCode exitCode() const noexcept { return ExitCode::ProcessingFailure; }
};

/// A command-line argument is wrong or missing.
class UsageError : public Error {
public:
  using Error::Error;
  [[nodiscard]] ExitCode exitCode() const noexcept override { return ExitCode::Usage; }
};

/// An input file or folder is missing, unreadable or inconsistent, or an output cannot be written.
class InputError : public Error {
public:
  using Error::Error;
  [[nodiscard]] ExitCode exitCode() const noexcept override { return ExitCode::BadInput; }
};

/// A DICOM object is malformed, unsupported or inconsistent with its series.
class DicomError : public InputError {
public:
  using InputError::InputError;
};

/// An algorithm could not produce a result it can stand behind (e.g. a segmentation leak).
class ProcessingError : public Error {
public:
  using Error::Error;
};

} // namespace lesion
