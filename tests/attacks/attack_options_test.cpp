// Option declarations: defaults filled, values checked against kind and range with the flag's
// name, undeclared options ignored or refused, typed reads.
#include "attacks/attack_options.h"

#include <gtest/gtest.h>

#include "attacks/registry.h"
#include "core/error.h"

namespace advtk {
namespace {

std::vector<OptionSpec> specs() {
  return {integer_option("steps", 40, 1, "iterations"),
          real_option("p-init", 0.8, 0, 1, "fraction", true),
          real_option("step-size", std::nullopt, 0, INFINITY, "step", true),
          flag_option("early-stop", true, "stop early"),
          choice_option("loss", "ce", {"ce", "margin"}, "loss")};
}

std::string message_of(const std::vector<OptionSpec>& s, const OptionValues& given) {
  try {
    resolve_options("pgd", s, given, true);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(AttackOptions, DefaultsFillWhatWasNotGiven) {
  const OptionValues v = resolve_options("pgd", specs(), OptionValues().set("steps", 7), true);
  EXPECT_EQ(v.integer("steps"), 7);
  EXPECT_DOUBLE_EQ(v.real("p-init"), 0.8);
  EXPECT_FALSE(v.maybe_real("step-size"));  // computed by the attack
  EXPECT_TRUE(v.flag("early-stop"));
  EXPECT_EQ(v.choice("loss"), "ce");
  EXPECT_EQ(options_json(v).dump(), R"({"early-stop":true,"loss":"ce","p-init":0.8,"steps":7})");
}

TEST(AttackOptions, ValuesOutsideTheirRangeNameTheFlag) {
  EXPECT_EQ(message_of(specs(), OptionValues().set("steps", 0)),
            "--steps: expected at least 1, got 0");
  EXPECT_EQ(message_of(specs(), OptionValues().set("p-init", 0.0)),
            "--p-init: expected a value in (0, 1], got 0");
  EXPECT_EQ(message_of(specs(), OptionValues().set("step-size", -1.0)),
            "--step-size: expected > 0, got -1");
  EXPECT_EQ(message_of(specs(), OptionValues().set("loss", "hinge")),
            "--loss: expected one of ce, margin, got 'hinge'");
  EXPECT_EQ(message_of(specs(), OptionValues().set("steps", 2.5)), "--steps: expected an integer");
  EXPECT_EQ(message_of(specs(), OptionValues().set("queries", 5)),
            "--queries: pgd has no such option");
  // Not strict: an option another attack reads is left out.
  EXPECT_FALSE(
      resolve_options("pgd", specs(), OptionValues().set("queries", 5), false).has("queries"));
}

TEST(AttackOptions, ARealOptionTakesAnIntegerLiteral) {
  const OptionValues v = resolve_options("pgd", specs(), OptionValues().set("p-init", 1), true);
  EXPECT_DOUBLE_EQ(v.real("p-init"), 1.0);
}

// Every flag the registry declares means one thing: one kind wherever it is declared, and no
// name declared twice by one attack.
TEST(AttackOptions, EachNameHasOneKindAcrossTheRegistry) {
  std::map<std::string, OptionKind> kinds;
  for (const AttackInfo& info : attack_registry()) {
    std::set<std::string> seen;
    for (const OptionSpec& spec : info.options) {
      EXPECT_TRUE(seen.insert(spec.name).second)
          << info.name << " declares " << spec.name << " twice";
      const auto [it, fresh] = kinds.emplace(spec.name, spec.kind);
      EXPECT_EQ(it->second, spec.kind) << spec.name << " in " << info.name;
      EXPECT_FALSE(spec.help.empty()) << spec.name;
      EXPECT_TRUE(spec.default_value || !spec.auto_default.empty())
          << spec.name << " in " << info.name;
    }
    EXPECT_EQ(info.preset, info.options.empty()) << info.name;
  }
}

TEST(AttackOptions, AnAttackRecordsTheDeclaredOptionsItWasMadeWith) {
  AttackSetup setup;
  setup.threat = {Norm::Linf, 0.1, 0, 1};
  const std::unique_ptr<Attack> pgd =
      make_attack("pgd", setup, OptionValues().set("steps", 7).set("queries", 9));
  const nlohmann::json d = pgd->description();
  // Every declared option, given or defaulted, and nothing the attack does not declare.
  EXPECT_EQ(d["options"]["steps"], 7);
  EXPECT_EQ(d["options"]["restarts"], 1);
  EXPECT_EQ(d["options"]["loss"], "ce");
  EXPECT_EQ(d["options"]["early-stop"], true);
  EXPECT_FALSE(d["options"].contains("queries"));
  EXPECT_FALSE(d["options"].contains("step-size"));  // no default: derived, in the parameters
  // The parameters are the attack's own, unchanged, with their derived values.
  nlohmann::json without = d;
  without.erase("options");
  EXPECT_EQ(without, pgd->parameters());
  EXPECT_NEAR(d["step_size"].get<double>(), 2.5 * 0.1 / 7, 1e-12);
  // An ensemble's members each record theirs; a preset's members their reference values.
  const nlohmann::json list = make_attack("fgsm,square", setup, {})->description();
  EXPECT_EQ(list["attacks"][1]["options"]["queries"], 5000);
  const nlohmann::json aa = make_attack("autoattack", setup, {})->description();
  EXPECT_FALSE(aa.contains("options"));  // a preset declares none of its own
  EXPECT_EQ(aa["attacks"][0]["options"]["steps"], 100);
  EXPECT_EQ(aa["attacks"][0]["options"]["restarts"], 1);
}

}  // namespace
}  // namespace advtk
