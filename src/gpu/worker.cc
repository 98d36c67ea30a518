#include "gpu/worker.h"

#include <spdlog/spdlog.h>

namespace xvgpu::gpu {

Worker::Worker(std::string name, size_t max_queued) : name_(std::move(name)), max_queued_(max_queued) {}

Worker::~Worker() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) {
    thread_.join();
  }
}

bool Worker::submit(std::function<void()> job) {
  {
    std::lock_guard lock(mu_);
    if (stopping_ || closed_ || jobs_.size() >= max_queued_) {
      return false;
    }
    jobs_.push_back(std::move(job));
    if (!thread_.joinable()) {
      thread_ = std::thread([this] { run(); });
    }
  }
  cv_.notify_one();
  return true;
}

void Worker::close() {
  std::lock_guard lock(mu_);
  closed_ = true;
}

void Worker::drain() {
  if (on_worker_thread()) {
    return;  // a job waiting for itself would never return
  }
  std::unique_lock lock(mu_);
  idle_cv_.wait(lock, [this] { return jobs_.empty() && !busy_; });
}

size_t Worker::queued() const {
  std::lock_guard lock(mu_);
  return jobs_.size();
}

void Worker::run() {
  std::unique_lock lock(mu_);
  for (;;) {
    cv_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
    if (jobs_.empty()) {
      break;  // stopping and nothing left
    }
    auto job = std::move(jobs_.front());
    jobs_.pop_front();
    busy_ = true;
    lock.unlock();
    try {
      job();
    } catch (const std::exception& e) {
      spdlog::error("{}: worker job failed: {}", name_, e.what());
    } catch (...) {
      spdlog::error("{}: worker job failed", name_);
    }
    lock.lock();
    busy_ = false;
    if (jobs_.empty()) {
      idle_cv_.notify_all();
    }
  }
  idle_cv_.notify_all();
}

}  // namespace xvgpu::gpu
