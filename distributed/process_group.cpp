#include "distributed/process_group.h"

#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <optional>
#include <sstream>
#include <thread>
#include <vector>

#include "core/error.h"
#include "distributed/nccl_group.h"

#ifdef ADVTK_HAVE_GLOO
#define USE_C10D_GLOO 1
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#endif

namespace advtk {

#ifdef ADVTK_HAVE_GLOO
struct ProcessGroup::Backend {
  c10::intrusive_ptr<c10d::Store> store;  // the TCP connection (the server on a hosting rank)
  c10::intrusive_ptr<c10d::Store> keys;   // advtk's keys in it
  c10::intrusive_ptr<c10d::ProcessGroupGloo> gloo;
  // CUDA tensors' exchange, agreed at the first device_exchange; NCCL's group when it is direct.
  std::optional<DeviceExchange> cuda_exchange;
  std::shared_ptr<NcclGroup> nccl;
  std::chrono::milliseconds timeout;
  int rank = 0;
  int size = 1;
  int64_t patient_barriers = 0;

  // The heartbeat: a thread of its own with a store connection of its own (a client's store is
  // one socket), writing beat/RANK once a second until the group goes.
  std::thread beating;
  std::mutex mutex;
  std::condition_variable stop_beating;
  bool stopping = false;

  ~Backend() {
    if (!beating.joinable()) return;
    {
      std::lock_guard<std::mutex> lock(mutex);
      stopping = true;
    }
    stop_beating.notify_all();
    beating.join();
  }
};
#else
struct ProcessGroup::Backend {};
#endif

namespace {

#ifdef ADVTK_HAVE_GLOO
// Whether host:port accepts a connection within `timeout` (tried every 100 ms). c10d's client
// reports a failure on stderr through glog before it throws; asking first keeps the one line.
bool reachable(const std::string& host, uint16_t port, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  do {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    if (getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found) == 0) {
      bool connected = false;
      for (addrinfo* a = found; a != nullptr && !connected; a = a->ai_next) {
        const int s = socket(a->ai_family, a->ai_socktype, a->ai_protocol);
        if (s < 0) continue;
        connected = connect(s, a->ai_addr, a->ai_addrlen) == 0;
        close(s);
      }
      freeaddrinfo(found);
      if (connected) return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  } while (std::chrono::steady_clock::now() < deadline);
  return false;
}

// Gloo's devices: those of GLOO_SOCKET_IFNAME's interfaces (comma-separated) as in
// torch.distributed, else the address this machine's hostname resolves to (the loopback one when
// it resolves to none).
std::vector<std::shared_ptr<gloo::transport::Device>> gloo_devices(const EnvironmentLookup& env) {
  std::vector<std::shared_ptr<gloo::transport::Device>> devices;
  if (const auto names = env("GLOO_SOCKET_IFNAME"); names && !names->empty()) {
    std::stringstream in(*names);
    std::string name;
    while (std::getline(in, name, ','))
      if (!name.empty()) devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(name));
  }
  if (devices.empty()) devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
  return devices;
}

void wait_for(const c10::intrusive_ptr<c10d::Work>& work, std::chrono::milliseconds timeout,
              int rank, const char* what) {
  std::string reason = "not completed";  // a send or receive that was aborted
  try {
    if (work->wait(timeout)) return;
  } catch (const std::exception& e) {
    reason = short_message(e);
  }
  throw PeerFailure(concat("rank ", rank, ": ", what, " with the other ranks failed (", reason,
                           "): a rank died or hung"));
}

// A client connection of the heartbeat's own, under the same prefixes as `b`'s keys.
void start_heartbeat(ProcessGroup::Backend& b, const LaunchEnvironment& env,
                     c10d::TCPStoreOptions options) {
  options.isServer = false;
  options.multiTenant = false;
  c10::intrusive_ptr<c10d::Store> store;
  try {
    store = c10::make_intrusive<c10d::TCPStore>(env.master_addr, options);
  } catch (const std::exception& e) {
    throw PeerFailure(concat("rank ", env.rank, ": its heartbeat could not reach the store (",
                             short_message(e), ")"));
  }
  if (!env.store_prefix.empty())
    store = c10::make_intrusive<c10d::PrefixStore>(env.store_prefix, store);
  store = c10::make_intrusive<c10d::PrefixStore>("advtk", store);
  const std::string key = concat("beat/", env.rank);
  b.beating = std::thread([&b, store, key] {
    int64_t beat = 0;
    std::unique_lock<std::mutex> lock(b.mutex);
    while (!b.stopping) {
      try {
        const std::string text = std::to_string(++beat);
        store->set(key, std::vector<uint8_t>(text.begin(), text.end()));
      } catch (const std::exception&) {
        return;  // the store's host is gone: the next exchange says so
      }
      b.stop_beating.wait_for(lock, std::chrono::seconds(1), [&b] { return b.stopping; });
    }
  });
}
#endif

}  // namespace

ProcessGroup ProcessGroup::join(const LaunchEnvironment& env, std::chrono::milliseconds timeout) {
  ProcessGroup g;
  if (!env.distributed()) return g;
  prepare_nccl_environment();
#ifndef ADVTK_HAVE_GLOO
  (void)timeout;
  throw Error(concat(env.launcher, " started ", env.world_size,
                     " processes, but this advtk was built without Gloo (install libgloo-dev and "
                     "rebuild): it runs as one process only"));
#else
  auto b = std::make_shared<Backend>();
  b->timeout = timeout;
  b->rank = env.rank;
  c10d::TCPStoreOptions store_options;
  store_options.port = env.master_port;
  store_options.isServer = !env.agent_store && env.rank == 0;
  store_options.numWorkers = env.world_size;
  store_options.waitWorkers = false;  // the Gloo meeting below waits for every rank
  store_options.timeout = timeout;
  store_options.multiTenant = store_options.isServer;
  const std::string where =
      concat(" the store at MASTER_ADDR:MASTER_PORT = ", env.master_addr, ":", env.master_port);
  ADVTK_CHECK(store_options.isServer || reachable(env.master_addr, env.master_port, timeout),
              "rank ", env.rank, ": cannot reach", where, " within ", timeout.count() / 1000.0,
              " s (nothing accepts connections there)");
  try {
    b->store = c10::make_intrusive<c10d::TCPStore>(env.master_addr, store_options);
  } catch (const std::exception& e) {
    throw Error(concat("rank ", env.rank, ": cannot ", store_options.isServer ? "host" : "reach",
                       where, " (", short_message(e), ")"));
  }
  // Under torchrun's agent the keys of this restart live under its prefix; advtk's own under
  // "advtk", apart from whatever else the store holds.
  c10::intrusive_ptr<c10d::Store> store = b->store;
  if (!env.store_prefix.empty())
    store = c10::make_intrusive<c10d::PrefixStore>(env.store_prefix, store);
  store = c10::make_intrusive<c10d::PrefixStore>("advtk", store);
  auto options = c10d::ProcessGroupGloo::Options::create(timeout);
  options->devices = gloo_devices(process_environment);
  options->threads = 2;
  try {
    b->gloo = c10::make_intrusive<c10d::ProcessGroupGloo>(store, env.rank, env.world_size, options);
  } catch (const std::exception& e) {
    throw PeerFailure(concat("rank ", env.rank, ": the ", env.world_size,
                             " ranks did not all meet within ", timeout.count() / 1000, " s (",
                             short_message(e), ")"));
  }
  b->keys = store;
  b->size = env.world_size;
  start_heartbeat(*b, env, store_options);
  g.backend_ = std::move(b);
  g.rank_ = env.rank;
  g.size_ = env.world_size;
  return g;
#endif
}

void ProcessGroup::broadcast(torch::Tensor& t, int root) const {
  if (alone()) return;
#ifdef ADVTK_HAVE_GLOO
  TORCH_INTERNAL_ASSERT(t.device().is_cpu() && t.is_contiguous());
  // Gloo moves bytes of the types it knows; flags travel as bytes.
  const bool flags = t.scalar_type() == torch::kBool;
  std::vector<torch::Tensor> ts{flags ? t.to(torch::kUInt8) : t};
  c10d::BroadcastOptions o;
  o.rootRank = root;
  o.timeout = backend_->timeout;
  wait_for(backend_->gloo->broadcast(ts, o), backend_->timeout, backend_->rank, "a broadcast");
  if (flags) t.copy_(ts[0]);
#else
  (void)t, (void)root;
#endif
}

void ProcessGroup::broadcast_bytes(std::vector<char>& bytes, int root) const {
  if (alone()) return;
  torch::Tensor length = torch::tensor({static_cast<int64_t>(bytes.size())}, torch::kLong);
  broadcast(length, root);
  torch::Tensor data = torch::empty({length.item<int64_t>()}, torch::kUInt8);
  if (rank_ == root) std::memcpy(data.data_ptr(), bytes.data(), bytes.size());
  broadcast(data, root);
  const auto* begin = static_cast<const char*>(data.data_ptr());
  bytes.assign(begin, begin + data.numel());
}

namespace {

// A map of tensors on the wire: their names (each ended by a NUL), then per tensor its type,
// number of dimensions and sizes as int64 words; the tensors' bytes follow.
struct TensorHeader {
  std::vector<char> names;
  std::vector<int64_t> words;
};

TensorHeader header_of(const std::map<std::string, torch::Tensor>& tensors) {
  TensorHeader h;
  for (const auto& [name, t] : tensors) {
    h.names.insert(h.names.end(), name.begin(), name.end());
    h.names.push_back('\0');
    h.words.push_back(static_cast<int64_t>(t.scalar_type()));
    h.words.push_back(t.dim());
    for (int64_t d : t.sizes()) h.words.push_back(d);
  }
  return h;
}

// The names and empty tensors (to be filled) that a header describes.
std::vector<std::pair<std::string, torch::Tensor>> tensors_of(const TensorHeader& h) {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  size_t at = 0;
  for (size_t begin = 0; begin < h.names.size(); ++begin) {
    const size_t end = std::find(h.names.begin() + begin, h.names.end(), '\0') - h.names.begin();
    std::string name(h.names.begin() + begin, h.names.begin() + end);
    begin = end;
    TORCH_INTERNAL_ASSERT(at + 2 <= h.words.size());
    const auto type = static_cast<torch::ScalarType>(h.words[at]);
    const int64_t dims = h.words[at + 1];
    const std::vector<int64_t> sizes(h.words.begin() + at + 2, h.words.begin() + at + 2 + dims);
    at += 2 + dims;
    out.emplace_back(std::move(name), torch::empty(sizes, torch::TensorOptions().dtype(type)));
  }
  return out;
}

}  // namespace

void ProcessGroup::broadcast_tensors(std::map<std::string, torch::Tensor>& tensors,
                                     int root) const {
  if (alone()) return;
  TensorHeader h;
  if (rank_ == root) h = header_of(tensors);
  broadcast_bytes(h.names, root);
  torch::Tensor count = torch::tensor({static_cast<int64_t>(h.words.size())}, torch::kLong);
  broadcast(count, root);
  torch::Tensor words = rank_ == root ? torch::tensor(h.words, torch::kLong)
                                      : torch::empty({count.item<int64_t>()}, torch::kLong);
  if (words.numel() > 0) broadcast(words, root);
  h.words.assign(words.data_ptr<int64_t>(), words.data_ptr<int64_t>() + words.numel());
  std::map<std::string, torch::Tensor> out;
  for (auto& [name, empty] : tensors_of(h)) {
    torch::Tensor t = rank_ == root ? tensors.at(name).contiguous() : empty;
    if (t.numel() > 0) broadcast(t, root);
    out[name] = t;
  }
  tensors = std::move(out);
}

#ifdef ADVTK_HAVE_GLOO
namespace {

// Gloo's send and recv move a contiguous tensor's bytes as they are, of any type.
void send_one(const ProcessGroup::Backend& b, const torch::Tensor& t, int to) {
  std::vector<torch::Tensor> ts{t.contiguous()};
  wait_for(b.gloo->send(ts, to, 0), b.timeout, b.rank, "a send");
}

void receive_one(const ProcessGroup::Backend& b, torch::Tensor& t, int from) {
  TORCH_INTERNAL_ASSERT(t.is_contiguous());
  std::vector<torch::Tensor> ts{t};
  wait_for(b.gloo->recv(ts, from, 0), b.timeout, b.rank, "a receive");
}

}  // namespace
#endif

void ProcessGroup::send_tensors(const std::map<std::string, torch::Tensor>& tensors, int to) const {
  TORCH_INTERNAL_ASSERT(!alone() && to != rank_ && to >= 0 && to < size_);
#ifdef ADVTK_HAVE_GLOO
  const TensorHeader h = header_of(tensors);
  const Backend& b = *backend_;
  send_one(
      b,
      torch::tensor({static_cast<int64_t>(h.names.size()), static_cast<int64_t>(h.words.size())},
                    torch::kLong),
      to);
  if (!h.names.empty())
    send_one(b,
             torch::from_blob(const_cast<char*>(h.names.data()),
                              {static_cast<int64_t>(h.names.size())}, torch::kUInt8),
             to);
  if (!h.words.empty()) send_one(b, torch::tensor(h.words, torch::kLong), to);
  for (const auto& [name, t] : tensors) {
    TORCH_INTERNAL_ASSERT(t.device().is_cpu());
    if (t.numel() > 0) send_one(b, t, to);
  }
#else
  (void)tensors;
#endif
}

std::map<std::string, torch::Tensor> ProcessGroup::receive_tensors(int from) const {
  TORCH_INTERNAL_ASSERT(!alone() && from != rank_ && from >= 0 && from < size_);
  std::map<std::string, torch::Tensor> out;
#ifdef ADVTK_HAVE_GLOO
  const Backend& b = *backend_;
  torch::Tensor counts = torch::empty({2}, torch::kLong);
  receive_one(b, counts, from);
  TensorHeader h;
  h.names.resize(counts[0].item<int64_t>());
  h.words.resize(counts[1].item<int64_t>());
  if (!h.names.empty()) {
    torch::Tensor names = torch::empty({counts[0].item<int64_t>()}, torch::kUInt8);
    receive_one(b, names, from);
    std::memcpy(h.names.data(), names.data_ptr(), h.names.size());
  }
  if (!h.words.empty()) {
    torch::Tensor words = torch::empty({counts[1].item<int64_t>()}, torch::kLong);
    receive_one(b, words, from);
    std::memcpy(h.words.data(), words.data_ptr(), h.words.size() * sizeof(int64_t));
  }
  for (auto& [name, t] : tensors_of(h)) {
    if (t.numel() > 0) receive_one(b, t, from);
    out[name] = t;
  }
#endif
  return out;
}

void ProcessGroup::all_reduce_sum(torch::Tensor& t) const {
  if (alone()) return;
#ifdef ADVTK_HAVE_GLOO
  if (t.is_cuda()) {
    TORCH_INTERNAL_ASSERT(backend_->nccl, "a CUDA tensor to sum without NCCL: see device_exchange");
    c10::intrusive_ptr<c10d::Work> work;
    try {
      work = backend_->nccl->all_reduce_sum(t);  // the first also makes NCCL's communicator
    } catch (const std::exception& e) {
      throw PeerFailure(concat("rank ", rank_, ": an all-reduce on the GPUs failed to start (",
                               short_message(e), ")"));
    }
    wait_for(work, backend_->timeout, backend_->rank, "an all-reduce on the GPUs");
    return;
  }
  TORCH_INTERNAL_ASSERT(t.device().is_cpu() && t.is_contiguous());
  std::vector<torch::Tensor> ts{t};
  c10d::AllreduceOptions o;
  o.timeout = backend_->timeout;
  wait_for(backend_->gloo->allreduce(ts, o), backend_->timeout, backend_->rank, "an all-reduce");
#else
  (void)t;
#endif
}

DeviceExchange ProcessGroup::device_exchange(torch::Device device) const {
  if (alone()) return {true, "alone"};
  if (!device.is_cuda()) return {true, "by Gloo on the CPU"};
#ifdef ADVTK_HAVE_GLOO
  Backend& b = *backend_;
  if (!b.cuda_exchange) {
    torch::Tensor identities = torch::zeros({size_}, torch::kLong);
    identities[rank_] = nccl_device_identity(device);
    all_reduce_sum(identities);
    DeviceExchange e = choose_device_exchange(
        {identities.data_ptr<int64_t>(), identities.data_ptr<int64_t>() + size_});
    if (e.direct) {
      try {
        b.nccl = NcclGroup::join(c10::make_intrusive<c10d::PrefixStore>("nccl", b.keys), rank_,
                                 size_, b.timeout);
      } catch (const std::exception& ex) {
        throw PeerFailure(
            concat("rank ", rank_, ": NCCL's group could not be made (", short_message(ex), ")"));
      }
    }
    b.cuda_exchange = std::move(e);
  }
  return *b.cuda_exchange;
#else
  return {true, "alone"};
#endif
}

void ProcessGroup::barrier() const {
  if (alone()) return;
#ifdef ADVTK_HAVE_GLOO
  c10d::BarrierOptions o;
  o.timeout = backend_->timeout;
  wait_for(backend_->gloo->barrier(o), backend_->timeout, backend_->rank, "a barrier");
#endif
}

void ProcessGroup::patient_barrier() const {
  if (alone()) return;
#ifdef ADVTK_HAVE_GLOO
  Backend& b = *backend_;
  const std::string round = concat("arrived/", b.patient_barriers++, "/");
  // A rank is declared gone when its heartbeat (once a second) stops for this long.
  const auto silence = std::min<std::chrono::milliseconds>(b.timeout, std::chrono::seconds(60));
  using Clock = std::chrono::steady_clock;
  std::vector<std::string> beat(b.size);
  std::vector<Clock::time_point> heard(b.size, Clock::now());
  try {
    b.keys->set(round + std::to_string(b.rank), std::vector<uint8_t>{1});
    for (;;) {
      bool all = true;
      for (int r = 0; r < b.size; ++r) {
        if (b.keys->check({round + std::to_string(r)})) continue;
        all = false;
        const std::string key = concat("beat/", r);
        if (b.keys->check({key})) {
          const std::vector<uint8_t> v = b.keys->get(key);
          std::string now(v.begin(), v.end());
          if (now != beat[r]) beat[r] = std::move(now), heard[r] = Clock::now();
        }
        if (Clock::now() - heard[r] > silence)
          throw PeerFailure(concat("rank ", b.rank, ": rank ", r, " stopped beating for ",
                                   silence.count() / 1000.0,
                                   " s before it finished its part: it died or froze"));
      }
      if (all) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  } catch (const PeerFailure&) {
    throw;
  } catch (const std::exception& e) {
    throw PeerFailure(concat("rank ", b.rank, ": waiting for the other ranks failed (",
                             short_message(e), "): a rank died"));
  }
#endif
  barrier();
}

const ProcessGroup& group_or_alone(const ProcessGroup* group) {
  static const ProcessGroup alone;
  return group != nullptr ? *group : alone;
}

std::chrono::milliseconds distributed_timeout(const EnvironmentLookup& env) {
  const auto text = env("ADVTK_DIST_TIMEOUT_S");
  if (!text) return std::chrono::minutes(30);
  char* end = nullptr;
  const double s = std::strtod(text->c_str(), &end);
  ADVTK_CHECK(!text->empty() && end == text->c_str() + text->size() && s > 0 && s <= 1e7,
              "ADVTK_DIST_TIMEOUT_S=", *text, ": expected a number of seconds > 0");
  return std::chrono::milliseconds(static_cast<int64_t>(s * 1000));
}

std::pair<int64_t, int64_t> share_of(int64_t count, int rank, int size) {
  const int64_t base = count / size, extra = count % size;
  const int64_t begin = rank * base + std::min<int64_t>(rank, extra);
  return {begin, begin + base + (rank < extra ? 1 : 0)};
}

}  // namespace advtk
