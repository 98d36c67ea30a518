// A per-vGPU worker thread for vendor jobs that must not run on a vCPU's request path
// (engine copies, blits). Jobs run one at a time, in submission order. The thread starts with
// the first job, so vGPUs that never queue work cost nothing.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

namespace xvgpu::gpu {

class Worker {
 public:
  explicit Worker(std::string name, size_t max_queued = 4096);
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;
  // Runs every queued job, then joins.
  ~Worker();

  // False when the queue is full or the worker is shutting down.
  bool submit(std::function<void()> job);
  // Refuses further submissions (queued jobs still run).
  void close();
  // Waits until every job submitted so far has finished. Must not be called from a job.
  void drain();
  [[nodiscard]] bool on_worker_thread() const { return std::this_thread::get_id() == thread_.get_id(); }
  [[nodiscard]] size_t queued() const;

 private:
  void run();

  std::string name_;
  size_t max_queued_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::condition_variable idle_cv_;
  std::deque<std::function<void()>> jobs_;
  bool busy_ = false;
  bool stopping_ = false;
  bool closed_ = false;
  std::thread thread_;
};

}  // namespace xvgpu::gpu
