// advtk leak's engine: simulate a client on consecutive batches of the data, defend what it
// shares, reconstruct each batch from the shared update and the model alone, and score the
// reconstructions against the originals after a one-to-one matching within the batch.
// Independent batches run in parallel threads (one LibTorch thread each), and over the ranks of
// a split run.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/torch.h"
#include "data/dataset.h"
#include "distributed/process_group.h"
#include "leakage/dlg.h"
#include "leakage/gradient_defense.h"
#include "leakage/inverting_gradients.h"
#include "leakage/shared_update.h"
#include "models/model.h"

namespace advtk {

enum class LeakAttack { Analytic, Idlg, Dlg, InvertingGradients };
std::string leak_attack_name(LeakAttack attack);  // analytic, idlg, dlg, ig

struct LeakOptions {
  LeakAttack attack = LeakAttack::Idlg;
  int64_t batch_size = 1;
  std::vector<GradientDefense> defenses = {GradientDefense{}};  // one run each
  ClientProtocol protocol;
  DlgOptions dlg;                // dlg and idlg
  InvertingGradientsOptions ig;  // ig
  uint64_t seed = 0;
  int threads = 0;  // parallel reconstructions; 0: LibTorch's thread count
  // A split run: each rank reconstructs its contiguous share of the batches (of every defense's
  // run, in order), and every rank ends with all of them. Null: one process.
  const ProcessGroup* group = nullptr;
};

struct BatchLeak {
  std::vector<int64_t> ids;
  torch::Tensor x, x_rec;  // [B, C, H, W] in [0, 1]; x_rec matched to x one-to-one
  torch::Tensor y, y_rec;  // [B] int64; y_rec −1 where the gradient held nothing to read
  std::vector<double> psnr, ssim, mse;
  int64_t labels_right = 0;      // size of the multiset intersection of y and y_rec
  double gradient_distance = 0;  // ||u(x_rec, y_rec) − u_shared||² / ||u_shared||²
  double utility_cosine = 1;     // cos(shared, undefended update)
  double seconds = 0;
};

struct LeakRun {
  GradientDefense defense;
  std::vector<BatchLeak> batches;
  double median_psnr = 0, median_ssim = 0;
  double label_accuracy = 0;  // Σ labels_right / examples
  double mean_utility_cosine = 1;
  double seconds = 0;  // reconstruction time summed over batches
};

using LeakProgress = std::function<void(int64_t done, int64_t total)>;

// Throws advtk::Error when the attack does not apply to the model (no first linear layer for
// analytic, no output layer for idlg/ig) or the model's gradient cannot be differentiated twice.
std::vector<LeakRun> run_leak(Model& model, const Dataset& data, const LeakOptions& options,
                              const LeakProgress& progress = {});

}  // namespace advtk
