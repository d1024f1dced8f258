// advtk attack over 2 and 3 processes on loopback, started with the environment a launcher sets
// (no Python needed), in both store modes: rank 0 hosting the store, and a store hosted outside
// the ranks as torchrun's agent does. The outputs must be those of one process, bit for bit
// apart from timings; bad launch environments are one line and exit 2.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include "cli/cli_cnn.h"
#include "cli/same_outputs.h"
#include "core/file_io.h"
#include "test_util.h"
#include "without_timings.h"

namespace advtk {
namespace {

using test::expect_same_outputs;
using test::run_advtk;
using test::TempDir;
using test::text_of;

struct RankRun {
  std::vector<int> exit_codes;
  std::vector<std::string> out, err;
};

// Starts `world` advtk processes at once, rank r with RANK=r and the rest of the environment
// torchrun gives its workers; `extra` is prepended to every rank's environment ("R:" entries
// only to rank R, e.g. {"1:ADVTK_KILL_AT=batch:1"}). "{rank}" in `args` becomes the rank.
RankRun run_ranks(int world, const std::string& args, uint16_t port,
                  const std::vector<std::string>& extra = {}) {
  TempDir tmp;
  std::string script = "(";
  for (int r = 0; r < world; ++r) {
    std::string env = "WORLD_SIZE=" + std::to_string(world) + " RANK=" + std::to_string(r) +
                      " LOCAL_RANK=" + std::to_string(r) +
                      " MASTER_ADDR=127.0.0.1 MASTER_PORT=" + std::to_string(port) +
                      " OMP_NUM_THREADS=1 OMP_WAIT_POLICY=PASSIVE";
    for (const std::string& e : extra) {
      const auto colon = e.find(':');
      const bool own = colon != std::string::npos && e.find('=') > colon;
      if (!own) env += " " + e;
      if (own && e.substr(0, colon) == std::to_string(r)) env += " " + e.substr(colon + 1);
    }
    const std::string out = tmp.file("out" + std::to_string(r));
    const std::string err = tmp.file("err" + std::to_string(r));
    const std::string rc = tmp.file("rc" + std::to_string(r));
    std::string own_args = args;
    for (auto at = own_args.find("{rank}"); at != std::string::npos; at = own_args.find("{rank}"))
      own_args.replace(at, 6, std::to_string(r));
    script += " (env " + env + " '" + ADVTK_BINARY + "' " + own_args + " > '" + out + "' 2> '" +
              err + "'; echo $? > '" + rc + "') &";
  }
  script += " wait)";
  std::system(script.c_str());
  RankRun run;
  for (int r = 0; r < world; ++r) {
    const std::string rc = text_of(tmp.file("rc" + std::to_string(r)));
    run.exit_codes.push_back(rc.empty() ? -1 : std::stoi(rc));
    run.out.push_back(text_of(tmp.file("out" + std::to_string(r))));
    run.err.push_back(text_of(tmp.file("err" + std::to_string(r))));
  }
  return run;
}

// One process with one thread: what the ranks (one thread each) must reproduce.
test::CommandResult one_process(const std::string& args) {
  return run_advtk(args, "OMP_NUM_THREADS=1");
}

// Every rank exited with `code`; else the first that did not, with what it printed.
::testing::AssertionResult all_exit_with(const RankRun& run, int code) {
  for (size_t r = 0; r < run.exit_codes.size(); ++r)
    if (run.exit_codes[r] != code)
      return ::testing::AssertionFailure()
             << "rank " << r << " exited with " << run.exit_codes[r] << ": " << run.err[r];
  return ::testing::AssertionSuccess();
}

class Ranks : public test::CliCnnTest {};

#ifdef ADVTK_HAVE_GLOO
TEST_F(Ranks, PgdOverTwoAndThreeProcessesWritesWhatOneProcessDoes) {
  TempDir out;
  // 60 examples, batches of 8: about 45 correct ones make 6 batches at the first budget, shared
  // 3/3 and 2/2/2, and fewer at the second (uneven shares).
  const std::string args = "attack '" + model() +
                           "' --data fashion-mnist --limit 60 --attack pgd --steps 10 "
                           "--eps 0.05,0.1 --batch-size 8 --quiet --out ";
  const auto one = one_process(args + "'" + out.file("one") + "'");
  ASSERT_EQ(one.exit_code, 0) << one.err;
  // Rank 0 hosts the store.
  const RankRun two = run_ranks(2, args + "'" + out.file("two") + "'", test::free_port());
  ASSERT_TRUE(all_exit_with(two, 0));
  expect_same_outputs(out.file("one"), out.file("two"));
  EXPECT_TRUE(std::filesystem::exists(out.file("two/logs/rank-1.log")));
  // The store hosted outside the ranks, as torchrun's agent does: every rank a client, keys
  // under the restart's prefix.
  const uint16_t port = test::free_port();
  c10d::TCPStoreOptions agent;
  agent.port = port;
  agent.isServer = true;
  agent.waitWorkers = false;
  auto store = c10::make_intrusive<c10d::TCPStore>("127.0.0.1", agent);
  const RankRun three =
      run_ranks(3, args + "'" + out.file("three") + "'", port,
                {"TORCHELASTIC_USE_AGENT_STORE=True", "TORCHELASTIC_RESTART_COUNT=1"});
  ASSERT_TRUE(all_exit_with(three, 0));
  expect_same_outputs(out.file("one"), out.file("three"));
  EXPECT_TRUE(std::filesystem::exists(out.file("three/logs/rank-2.log")));
  // They met in this store (rank 0 hosting one of its own on the same port would have failed).
  EXPECT_GT(store->getNumKeys(), 0);
  // Ranks that share no folder (machines without a shared file system): the batches of ranks 1
  // and 2 reach rank 0, point to point, which writes the outputs from its own store.
  const RankRun apart =
      run_ranks(3, args + "'" + out.file("apart-{rank}") + "'", test::free_port());
  ASSERT_TRUE(all_exit_with(apart, 0));
  expect_same_outputs(out.file("one"), out.file("apart-0"));
  for (const char* other : {"apart-1", "apart-2"}) {
    EXPECT_FALSE(std::filesystem::exists(out.file(other) + "/eps-0.1"));  // rank 0 alone writes
    EXPECT_FALSE(std::filesystem::exists(out.file(other) + "/store"));    // each removes its own
  }
}

TEST_F(Ranks, TheAutoAttackPresetOverTwoProcessesWritesWhatOneProcessDoes) {
  TempDir out;
  const std::string args = "attack '" + model() +
                           "' --data fashion-mnist --limit 8 --attack autoattack --eps 0.1 "
                           "--batch-size 2 --quiet --out ";
  const auto one = one_process(args + "'" + out.file("one") + "'");
  ASSERT_EQ(one.exit_code, 0) << one.err;
  // Examples left for every member after APGD-CE, in more batches than one: both ranks attack.
  const auto summary = nlohmann::json::parse(text_of(out.file("one/summary.json")));
  ASSERT_GE(summary["attacks"].size(), 4u);
  EXPECT_GT(summary["attacks"][0]["robust_accuracy_after"].get<double>() * 8, 2.5);
  const RankRun two = run_ranks(2, args + "'" + out.file("two") + "'", test::free_port());
  ASSERT_TRUE(all_exit_with(two, 0));
  expect_same_outputs(out.file("one"), out.file("two"));
}

TEST_F(Ranks, AQuickAuditOverTwoProcessesWritesWhatOneProcessDoes) {
  TempDir out;
  // 20 examples in batches of 6: the attack stages' batches shared unevenly. The whole-model
  // stages (and the masking check, which runs on every rank) are left out to keep the test short.
  const std::string args = "audit '" + model() +
                           "' --data fashion-mnist --budget quick --limit 20 --batch-size 6 "
                           "--skip masking,sharpness,leakage,backdoor --quiet --out ";
  const auto one = one_process(args + "'" + out.file("one") + "'");
  ASSERT_TRUE(one.exit_code == 0 || one.exit_code == 3) << one.err;
  const RankRun two = run_ranks(2, args + "'" + out.file("two") + "'", test::free_port());
  ASSERT_TRUE(all_exit_with(two, one.exit_code));
  const auto report = [&](const std::string& dir) {
    return test::without_timings(nlohmann::json::parse(text_of(out.file(dir + "/report.json"))));
  };
  EXPECT_EQ(report("one"), report("two"));
  if (std::filesystem::exists(out.file("one/fragile.png")))
    EXPECT_EQ(test::read_bytes(out.file("one/fragile.png")),
              test::read_bytes(out.file("two/fragile.png")));
  // Every rank holds every batch in its own store: a resumed run reads them all back.
  EXPECT_TRUE(std::filesystem::exists(out.file("two/ranks/rank-1/stages/config.json")));
  const RankRun resumed =
      run_ranks(2, args + "'" + out.file("two") + "' --resume", test::free_port());
  ASSERT_TRUE(all_exit_with(resumed, one.exit_code));
  EXPECT_EQ(report("one"), report("two"));
  // Ranks that share no folder: each keeps its store in its own, rank 0 writes the report.
  const RankRun apart =
      run_ranks(2, args + "'" + out.file("apart-{rank}") + "'", test::free_port());
  ASSERT_TRUE(all_exit_with(apart, one.exit_code));
  EXPECT_EQ(report("one"), report("apart-0"));
  EXPECT_FALSE(std::filesystem::exists(out.file("apart-1/report.json")));
  EXPECT_TRUE(std::filesystem::exists(out.file("apart-1/ranks/rank-1/stages/config.json")));
}

TEST_F(Ranks, EvalOverThreeProcessesPrintsWhatOneProcessDoes) {
  const std::string args =
      "eval '" + model() + "' --data fashion-mnist --limit 300 --batch-size 64 --json --quiet";
  const auto one = one_process(args);
  ASSERT_EQ(one.exit_code, 0) << one.err;
  const RankRun three = run_ranks(3, args, test::free_port());
  ASSERT_TRUE(all_exit_with(three, 0));
  EXPECT_EQ(nlohmann::json::parse(one.out), nlohmann::json::parse(three.out[0]));
  EXPECT_EQ(three.out[1], "");  // rank 0 alone prints
}

TEST_F(Ranks, TheMaskingCheckOverTwoProcessesWritesWhatOneProcessDoes) {
  TempDir out;
  const std::string args = "masking '" + model() +
                           "' --data fashion-mnist --limit 60 --eps 0.1 --points 40 "
                           "--expensive-points 20 --pgd-steps 10 --apgd-steps 10 --queries 100 "
                           "--noise-draws 100 --batch-size 8 --quiet --out ";
  const auto one = one_process(args + "'" + out.file("one") + "'");
  ASSERT_TRUE(one.exit_code == 0 || one.exit_code == 3) << one.err;
  const RankRun two = run_ranks(2, args + "'" + out.file("two") + "'", test::free_port());
  ASSERT_TRUE(all_exit_with(two, one.exit_code));
  expect_same_outputs(out.file("one"), out.file("two"), 1);
}

// Three processes, six reconstructions (3 clients × 2 defenses): rank 1's share spans both runs.
TEST_F(Ranks, GradientLeakageOverThreeProcessesWritesWhatOneProcessDoes) {
  TempDir out;
  const auto net =
      run_advtk("train --arch dlg-lenet --epochs 0 --quiet --out '" + out.file("net") + "'");
  ASSERT_EQ(net.exit_code, 0) << net.err;
  const std::string args = "leak '" + out.file("net/model.pt") +
                           "' --attack idlg --limit 3 --iterations 50 --defense none "
                           "--defense noise=0.01 --quiet --out ";
  const auto one = one_process(args + "'" + out.file("one") + "'");
  ASSERT_EQ(one.exit_code, 0) << one.err;
  const RankRun three = run_ranks(3, args + "'" + out.file("three") + "'", test::free_port());
  ASSERT_TRUE(all_exit_with(three, 0));
  expect_same_outputs(out.file("one"), out.file("three"), 3);
  EXPECT_EQ(three.out[1], "");  // rank 0 alone prints
}

// Without batch norm, data-parallel training gives the single process's model up to the order
// in which the ranks' gradients are summed (measured: 3e-6 after 10 steps, parameters up to
// 0.07). Adversarial training attacks each rank's part as a batch of its own, and PGD's sign
// steps turn BLAS's other summation order into other pixels on a few examples: measured 9e-4
// (1.2% of the largest parameter) over three ranks; the bound is 5%.
TEST_F(Ranks, DataParallelTrainingGivesTheModelOfOneProcessUpToSummationOrder) {
  TempDir out;
  const auto parameters = [&](const std::string& dir) {
    std::map<std::string, torch::Tensor> p;
    for (const auto& item : torch::jit::load(out.file(dir + "/model.pt")).named_parameters())
      p[item.name] = item.value.detach().clone();
    return p;
  };
  const auto expect_close = [&](const std::string& a, const std::string& b, double tolerance) {
    const auto x = parameters(a), y = parameters(b);
    ASSERT_EQ(x.size(), y.size());
    ASSERT_GT(x.size(), 0u);
    double largest = 0, difference = 0;
    for (const auto& [name, t] : x) {
      largest = std::max(largest, t.abs().max().item<double>());
      difference = std::max(difference, (t - y.at(name)).abs().max().item<double>());
    }
    EXPECT_LE(difference, tolerance * largest) << "largest parameter " << largest;
    const auto loss = [&](const std::string& dir) {
      return nlohmann::json::parse(text_of(out.file(dir + "/history.json")))[0]["train_loss"]
          .get<double>();
    };
    EXPECT_NEAR(loss(a), loss(b), tolerance);
  };
  // Batches of 50: shared 25/25 over two ranks, 17/17/16 over three.
  for (const std::string& adversarial :
       {std::string(), std::string(" --adversarial pgd --eps 0.1")}) {
    const std::string args =
        "train --arch mlp --data fashion-mnist --limit 500 --epochs 1 --batch-size 50 "
        "--val-size 50 --quiet --force" +
        adversarial + " --out ";
    const auto one = one_process(args + "'" + out.file("one") + "'");
    ASSERT_EQ(one.exit_code, 0) << one.err;
    const int world = adversarial.empty() ? 2 : 3;
    const RankRun many = run_ranks(world, args + "'" + out.file("many") + "'", test::free_port());
    ASSERT_TRUE(all_exit_with(many, 0));
    expect_close("one", "many", adversarial.empty() ? 1e-4 : 0.05);
    EXPECT_TRUE(std::filesystem::exists(out.file("many/logs/rank-1.log")));
  }
}

// On GPUs: NCCL sums the gradients where each rank has a GPU of its own; two ranks on one GPU
// say that they go through Gloo instead. Either way the model is one process's up to order.
TEST_F(Ranks, DataParallelTrainingOnCudaGivesTheModelOfOneProcess) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  const bool two_gpus = torch::cuda::device_count() > 1;
  TempDir out;
  const std::string args =
      "train --arch mlp --data fashion-mnist --limit 500 --epochs 1 --batch-size 50 --val-size 50 "
      "--force --out ";
  const auto one = one_process(args + "'" + out.file("one") + "' --device cuda:0");
  ASSERT_EQ(one.exit_code, 0) << one.err;
  const RankRun many =
      run_ranks(2, args + "'" + out.file("many") + "' --device " + (two_gpus ? "cuda" : "cuda:0"),
                test::free_port());
  ASSERT_TRUE(all_exit_with(many, 0));
  EXPECT_NE(many.err[0].find(two_gpus ? "gradients summed by NCCL on the 2 ranks' GPUs"
                                      : "ranks 0 and 1 share one GPU"),
            std::string::npos)
      << many.err[0];
  double largest = 0, difference = 0;
  const auto a = torch::jit::load(out.file("one/model.pt")).named_parameters();
  const auto b = torch::jit::load(out.file("many/model.pt")).named_parameters();
  for (auto i = a.begin(), j = b.begin(); i != a.end() && j != b.end(); ++i, ++j) {
    largest = std::max(largest, (*i).value.abs().max().item<double>());
    difference = std::max(difference, ((*i).value - (*j).value).abs().max().item<double>());
  }
  EXPECT_GT(largest, 0);
  EXPECT_LE(difference, 1e-4 * largest) << "largest parameter " << largest;
}

// More ranks on a machine than it has GPUs, with --device cuda: one line and exit 2 on the rank
// without a GPU of its own, which names the way out.
TEST_F(Ranks, MoreRanksThanGpusOnCudaIsOneLineAndExitTwo) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  const int gpus = static_cast<int>(torch::cuda::device_count());
  const RankRun run = run_ranks(gpus + 1, "eval '" + model() + "' --limit 20 --device cuda",
                                test::free_port(), {"ADVTK_DIST_TIMEOUT_S=20"});
  const std::string& err = run.err[gpus];
  EXPECT_EQ(run.exit_codes[gpus], 2) << err;
  EXPECT_NE(err.find("error: --device cuda under torchrun: local rank " + std::to_string(gpus) +
                     " takes cuda:" + std::to_string(gpus) + ", but this machine shows " +
                     std::to_string(gpus) + " GPU(s)"),
            std::string::npos)
      << err;
}

TEST_F(Ranks, ARankThatDiesEndsTheOthersWithOneLine) {
  TempDir out;
  const std::string args = "attack '" + model() +
                           "' --data fashion-mnist --limit 60 --attack pgd --steps 10 --eps 0.05 "
                           "--batch-size 8 --quiet --out '" +
                           out.file("run") + "'";
  const RankRun run =
      run_ranks(2, args, test::free_port(), {"1:ADVTK_KILL_AT=batch:1", "ADVTK_DIST_TIMEOUT_S=60"});
  EXPECT_EQ(run.exit_codes[1], 137);  // SIGKILL
  EXPECT_EQ(run.exit_codes[0], 1) << run.err[0];
  EXPECT_NE(run.err[0].find("error: rank 0: a broadcast with the other ranks failed"),
            std::string::npos)
      << run.err[0];
  EXPECT_FALSE(std::filesystem::exists(out.file("run/summary.json")));
  // What finished before the death is in the store: restarted with --resume (here over three
  // processes), the job attacks only the rest and writes one process's outputs.
  EXPECT_TRUE(std::filesystem::exists(out.file("run/store/budget-0/batch-0.pt")));
  std::string loud = args;  // info lines on: the read-back is said
  loud.replace(loud.find(" --quiet"), 8, "");
  const RankRun resumed = run_ranks(3, loud + " --resume", test::free_port());
  ASSERT_TRUE(all_exit_with(resumed, 0));
  EXPECT_NE(resumed.err[0].find("finished batches read back"), std::string::npos) << resumed.err[0];
  const auto one = one_process(
      "attack '" + model() +
      "' --data fashion-mnist --limit 60 --attack pgd --steps 10 --eps 0.05 --batch-size 8 "
      "--quiet --out '" +
      out.file("one") + "'");
  ASSERT_EQ(one.exit_code, 0) << one.err;
  expect_same_outputs(out.file("one"), out.file("run"));
  EXPECT_FALSE(std::filesystem::exists(out.file("run/store")));  // gone with the outputs
}

TEST_F(Ranks, AStoreOfOtherSettingsIsNotResumed) {
  TempDir out;
  const std::string args = "attack '" + model() +
                           "' --data fashion-mnist --limit 24 --attack pgd --eps 0.05 "
                           "--batch-size 8 --quiet --out '" +
                           out.file("run") + "'";
  const auto killed = run_advtk(args + " --steps 10", "ADVTK_KILL_AT=batch:1");
  ASSERT_NE(killed.exit_code, 0);
  const auto other = run_advtk(args + " --steps 5 --resume");
  EXPECT_EQ(other.exit_code, 2);
  EXPECT_NE(other.err.find("was made by another run (options differ)"), std::string::npos)
      << other.err;
  EXPECT_TRUE(std::filesystem::exists(out.file("run/store/budget-0/batch-0.pt")));  // kept
}
#endif

TEST_F(Ranks, BadLaunchEnvironmentsAreOneLineAndExitTwo) {
  TempDir out;
  const std::string attack = "attack '" + model() +
                             "' --data fashion-mnist --limit 8 --eps 0.1 --quiet --out '" +
                             out.file("run") + "'";
  const auto expect_bad = [&](const std::string& env, const std::string& args,
                              const std::string& message) {
    const auto r = run_advtk(args, env);
    EXPECT_EQ(r.exit_code, 2) << env << ": " << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_NE(r.err.find(message), std::string::npos) << r.err;
  };
  expect_bad("WORLD_SIZE=2 RANK=0 MASTER_PORT=29500", attack,
             "error: WORLD_SIZE=2 but MASTER_ADDR is not set");
  expect_bad("WORLD_SIZE=2 RANK=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=29500", attack,
             "error: RANK=2: expected less than WORLD_SIZE=2");
  expect_bad("WORLD_SIZE=2 RANK=0 MASTER_ADDR=127.0.0.1 MASTER_PORT=29500",
             "info '" + model() + "'",
             "error: advtk info runs as one process, but torchrun started 2");
#ifdef ADVTK_HAVE_GLOO
  expect_bad("WORLD_SIZE=2 RANK=1 MASTER_ADDR=127.0.0.1 ADVTK_DIST_TIMEOUT_S=1 MASTER_PORT=" +
                 std::to_string(test::free_port()),
             attack, "error: rank 1: cannot reach the store at MASTER_ADDR:MASTER_PORT = ");
#endif
  EXPECT_FALSE(std::filesystem::exists(out.file("run")));
}

}  // namespace
}  // namespace advtk
