// A parameter server: one actor holds the weights of a linear model; each round, N worker
// tasks pull the weights, compute the gradient of the squared error on their own shard of a
// synthetic regression problem, and push it back. The actor applies the round's mean
// gradient once the N-th push arrives (synchronous SGD), so every worker of a round sees the
// same weights: each worker pulls before it pushes, and the round's last push comes after
// every pull.
#include <shmray/shmray.hpp>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

#include "../demo_flags.hpp"

namespace {

constexpr int kDim = 16;             // features (the last one is a constant 1: the bias)
constexpr int kRowsPerShard = 2000;  // samples per worker task
constexpr double kNoise = 0.1;       // standard deviation of the label noise
constexpr double kLearningRate = 0.1;

class ParameterServer {
 public:
  ParameterServer(int dim, int shards, double lr) : w_(std::size_t(dim), 0.0), sum_(w_), shards_(shards), lr_(lr) {}

  /// The current weights (the pull).
  std::vector<double> weights() const { return w_; }

  /// Adds one shard's gradient (the push); the round's last one updates the weights. Returns
  /// the number of updates made so far.
  int push(const std::vector<double>& grad) {
    if (grad.size() != w_.size()) throw std::invalid_argument("gradient of the wrong size");
    for (std::size_t j = 0; j < w_.size(); ++j) sum_[j] += grad[j];
    if (++pushed_ == shards_) {
      for (std::size_t j = 0; j < w_.size(); ++j) w_[j] -= lr_ * sum_[j] / shards_, sum_[j] = 0;
      pushed_ = 0;
      ++updates_;
    }
    return updates_;
  }

 private:
  std::vector<double> w_, sum_;
  int shards_, pushed_ = 0, updates_ = 0;
  double lr_;
};
ParameterServer* make_server(int dim, int shards, double lr) { return new ParameterServer(dim, shards, lr); }
SHMRAY_REMOTE(make_server);
SHMRAY_REMOTE(&ParameterServer::weights);
SHMRAY_REMOTE(&ParameterServer::push);

/// The weights the data are made from (the answer the server should find).
std::vector<double> true_weights() {
  std::vector<double> w(kDim);
  for (int j = 0; j < kDim; ++j) w[std::size_t(j)] = std::sin(1.0 + j);
  return w;
}

/// One shard of the problem: rows x (standard normal, last column 1) and labels y = x.w + noise.
/// Made from the shard's seed, so every round (in whichever worker process) sees the same data.
struct Shard {
  std::vector<double> x, y;
};
Shard make_shard(int shard) {
  std::mt19937_64 rng(1234567u + unsigned(shard));
  std::normal_distribution<double> normal(0.0, 1.0);
  const std::vector<double> w = true_weights();
  Shard s{std::vector<double>(std::size_t(kRowsPerShard) * kDim), std::vector<double>(kRowsPerShard)};
  for (int i = 0; i < kRowsPerShard; ++i) {
    double* row = &s.x[std::size_t(i) * kDim];
    double dot = 0;
    for (int j = 0; j < kDim; ++j) {
      row[j] = j == kDim - 1 ? 1.0 : normal(rng);
      dot += row[j] * w[std::size_t(j)];
    }
    s.y[std::size_t(i)] = dot + kNoise * normal(rng);
  }
  return s;
}

/// A worker task: pull, gradient of mean((x.w - y)^2) on the shard, push. Returns the shard's
/// loss at the pulled weights (the round's loss is their mean: all shards are the same size).
double train_shard(shmray::ActorHandle<ParameterServer> ps, int shard) {
  const std::vector<double> w = shmray::get(ps.task(&ParameterServer::weights).remote());
  const Shard s = make_shard(shard);
  std::vector<double> grad(std::size_t(kDim), 0.0);
  double loss = 0;
  for (int i = 0; i < kRowsPerShard; ++i) {
    const double* row = &s.x[std::size_t(i) * kDim];
    double err = -s.y[std::size_t(i)];
    for (int j = 0; j < kDim; ++j) err += row[j] * w[std::size_t(j)];
    loss += err * err;
    for (int j = 0; j < kDim; ++j) grad[std::size_t(j)] += 2 * err * row[j] / kRowsPerShard;
  }
  shmray::get(ps.task(&ParameterServer::push).remote(grad));
  return loss / kRowsPerShard;
}
SHMRAY_REMOTE(train_shard);

struct Flags {
  int workers = 2, shards = 4, rounds = 30;
};

Flags parse(int argc, char** argv) {
  Flags f;
  demo::Args args(argc, argv, "[--workers N] [--shards N] [--rounds K]");
  while (args.next()) {
    if (args.is("--workers"))
      f.workers = args.int_value(1, 1024);
    else if (args.is("--shards"))
      f.shards = args.int_value(1, 256);
    else if (args.is("--rounds"))
      f.rounds = args.int_value(1, 100000);
    else
      args.unknown();
  }
  return f;
}

/// Each loss below the one before (full-batch gradient descent on a convex quadratic with a
/// small step never goes up), and the last one near the noise floor (kNoise^2).
bool converged(const std::vector<double>& losses) {
  for (std::size_t i = 1; i < losses.size(); ++i)
    if (losses[i] > losses[i - 1] * (1 + 1e-9)) return false;
  return losses.size() < 20 || losses.back() < 2 * kNoise * kNoise;
}

}  // namespace

int main(int argc, char** argv) {
  const Flags f = parse(argc, argv);
  shmray::Session session({.num_workers = unsigned(f.workers), .quiet = true});
  auto ps = shmray::actor(make_server).options({.name = "parameter_server"}).remote(kDim, f.shards, kLearningRate);
  shmray::get(ps.ready());  // its process runs; the timing below is the rounds alone
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<double> losses;
  for (int r = 0; r < f.rounds; ++r) {
    std::vector<shmray::ObjectRef<double>> refs;
    for (int s = 0; s < f.shards; ++s) refs.push_back(shmray::task(train_shard).remote(ps, s));
    double loss = 0;
    for (double l : shmray::get(refs)) loss += l / f.shards;
    losses.push_back(loss);
    std::printf("round %3d  loss %.6f\n", r, loss);
  }
  const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const std::vector<double> w = shmray::get(ps.task(&ParameterServer::weights).remote());
  const std::vector<double> want = true_weights();
  double err = 0;
  for (int j = 0; j < kDim; ++j) err = std::max(err, std::abs(w[std::size_t(j)] - want[std::size_t(j)]));
  const double calls = 2.0 * f.shards * f.rounds;  // a pull and a push per shard and round
  std::printf("%d rounds x %d shards in %.3f s: %.1f rounds/s, %.0f actor calls/s, %.0f tasks/s\n", f.rounds, f.shards,
              dt, f.rounds / dt, calls / dt, double(f.shards) * f.rounds / dt);
  std::printf("max |w - w_true| = %.4f\n", err);
  if (!converged(losses)) {
    std::fprintf(stderr, "parameter_server: the loss did not go down as it should\n");
    return 1;
  }
  std::printf("converged: loss %.6f -> %.6f\n", losses.front(), losses.back());
  return 0;
}
