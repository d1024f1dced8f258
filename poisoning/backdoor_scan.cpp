#include "poisoning/backdoor_scan.h"

#include <sstream>

#include "core/error.h"
#include "models/feature_layer.h"

namespace advtk {

BackdoorScan scan_for_backdoor(const Model& model, int64_t classes, const Dataset& clean,
                               const Dataset* train, const std::vector<int64_t>* poisoned_ids,
                               const BackdoorScanOptions& o, const BackdoorScanProgress& progress) {
  ADVTK_CHECK(o.neural_cleanse.steps >= 1 && o.neural_cleanse.batch_size >= 1,
              "--nc-steps, --nc-batch: expected at least 1");
  // The feature layer first: a model without one fails before the long search.
  std::optional<FeatureLayer> layer;
  if (train) {
    ADVTK_CHECK(train->images.sizes().slice(1) == clean.images.sizes().slice(1), train->source,
                ": training images of another shape than the clean inputs'");
    layer = FeatureLayer::find(model, o.feature_layer);
  }
  BackdoorScan s;
  s.neural_cleanse = neural_cleanse(model, clean.images, classes, o.neural_cleanse,
                                    [&](int64_t done, int64_t total) {
                                      if (progress) progress("neural cleanse", done, total);
                                    });
  const NeuralCleanseReport& r = s.neural_cleanse;
  std::vector<int64_t> poisoned_classes;
  nlohmann::json data_sections;
  if (train) {
    FeatureSet set;
    set.features = layer->extract(train->images, o.batch_size);
    set.labels = train->labels;
    set.reference_features = layer->extract(clean.images, o.batch_size);
    set.reference_labels = clean.labels;
    set.classes = classes;
    if (progress) progress("features", 1, 1);
    const TrainingDataScan scan = scan_training_data(set, o.training_data);
    poisoned_classes = scan.poisoned_classes;
    data_sections = scan_json(scan, train->example_ids(), poisoned_ids);
    data_sections["training_data"] = {{"data", train->source},
                                      {"examples", train->size()},
                                      {"features", layer->description()},
                                      {"feature_dims", set.features.size(1)},
                                      {"poisoned_classes", scan.poisoned_classes},
                                      {"seconds", scan.seconds}};
  }
  s.found = !r.flagged.empty() || !poisoned_classes.empty();
  for (int64_t t : r.flagged)
    if (s.target < 0 || r.mask_norm[t] < r.mask_norm[s.target]) s.target = t;
  if (s.target < 0 && !poisoned_classes.empty()) s.target = poisoned_classes.front();
  std::ostringstream log_threshold;
  log_threshold << o.neural_cleanse.log_anomaly_threshold;
  std::string nc_rule =
      "an anomaly index |log norm - median| / (1.4826 MAD) over the classes' "
      "log mask norms above " +
      log_threshold.str();
  if (o.neural_cleanse.anomaly_threshold > 0) {
    std::ostringstream threshold;
    threshold << o.neural_cleanse.anomaly_threshold;
    nc_rule += ", or the same index on the norms (the paper's) above " + threshold.str();
  }
  s.json = {
      {"verdict", s.found ? "backdoor" : "no-evidence"},
      {"target_class", s.found ? nlohmann::json(s.target) : nlohmann::json(nullptr)},
      {"rule",
       "backdoor when Neural Cleanse flags a class (its reverse-engineered mask's L1 norm below "
       "the classes' median with " +
           nc_rule +
           ") or, given the training set, a training-data detector finds a poisoned group in a "
           "class (each section's rule)"},
      {"clean_data", clean.source},
      {"clean_examples", clean.size()},
      {"neural_cleanse",
       {{"mask_norm", r.mask_norm},
        {"attack_success", r.success},
        {"anomaly_index", r.anomaly_index},
        {"log_anomaly_index", r.log_anomaly_index},
        {"flagged", r.flagged},
        {"classes", classes},
        {"searched", r.searched},
        {"steps", o.neural_cleanse.steps},
        {"batch_size", o.neural_cleanse.batch_size},
        {"seconds", r.seconds}}}};
  if (r.prescreen_steps > 0) {
    s.json["neural_cleanse"]["prescreen"] = {
        {"steps", r.prescreen_steps},
        {"kept", r.searched.size()},
        {"mask_norm", r.prescreen_norm},
        {"scale", r.prescreen_scale},
        {"index_norm", r.index_norm},
        {"note",
         "a pre-screen of " + std::to_string(r.prescreen_steps) +
             " steps for every class kept the " + std::to_string(r.searched.size()) + " of " +
             std::to_string(classes) +
             " classes with the smallest masks; the other classes were not searched in full "
             "(mask_norm null): the anomaly index takes their pre-screen norm times the median "
             "ratio of full to pre-screen norm over the searched classes (index_norm), and none "
             "of them can be flagged"}};
  }
  if (train) {
    for (const char* key :
         {"spectral", "activation_clustering", "deep_knn", "suspicious_index", "training_data"})
      s.json[key] = data_sections[key];
  }
  return s;
}

}  // namespace advtk
