// The audit's stages, in the order they run. Adding a section to the audit is one stage file
// (a class derived from AuditStage, see audit_stage.h, and its factory) and its line in
// audit_stages() — with the factory's declaration below.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "audit/audit_stage.h"

namespace advtk {

// The stages for an audit with these options of a model with `classes` outputs.
// `skipped_attacks`, when given, receives the standard attacks left out or replaced and why.
std::vector<std::unique_ptr<AuditStage>> audit_stages(const AuditOptions& options, int64_t classes,
                                                      nlohmann::json* skipped_attacks = nullptr);

// Runs the stages `make_stages` lists as run_audit runs audit_stages' (run_audit is this with
// audit_stages): for tools and tests that add a stage of their own.
using StageList = std::function<std::vector<std::unique_ptr<AuditStage>>(
    const AuditOptions& options, int64_t classes, nlohmann::json* skipped_attacks)>;
AuditResult run_audit_stages(const Model& model, const Dataset& data, const AuditOptions& options,
                             const StageList& make_stages, const AuditProgress& progress = {},
                             const AuditSaved& saved = {});

std::unique_ptr<AuditStage> clean_stage();
std::unique_ptr<AuditStage> attack_stage(const std::string& attack);
std::unique_ptr<AuditStage> min_norm_stage(const std::string& attack);  // deepfool, cw
std::unique_ptr<AuditStage> masking_stage();
std::unique_ptr<AuditStage> adaptive_stage();
std::unique_ptr<AuditStage> worst_case_stage();
std::unique_ptr<AuditStage> numerical_stage();
std::unique_ptr<AuditStage> sharpness_stage();
std::unique_ptr<AuditStage> leakage_stage();
std::unique_ptr<AuditStage> training_security_stage();
std::unique_ptr<AuditStage> sanity_checks_stage();

}  // namespace advtk
