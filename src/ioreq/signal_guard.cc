#include "ioreq/signal_guard.h"

#include <pthread.h>
#include <sys/signalfd.h>

#include "common/error.h"

namespace xvgpu::ioreq {

SignalGuard::SignalGuard() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  if (const int e = pthread_sigmask(SIG_BLOCK, &set, &old_); e != 0) {
    throw SystemError(e, "pthread_sigmask");
  }
  fd_.reset(::signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC));
  if (!fd_) {
    const int e = errno;
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
    throw SystemError(e, "signalfd");
  }
}

SignalGuard::~SignalGuard() {
  // Consume a SIGTERM/SIGINT that arrived after the loop stopped for another reason: we are
  // shutting down already, and unblocking it would kill the process before a clean exit.
  signalfd_siginfo si{};
  while (::read(fd_.get(), &si, sizeof si) == static_cast<ssize_t>(sizeof si)) {
  }
  fd_.reset();
  pthread_sigmask(SIG_SETMASK, &old_, nullptr);
}

}  // namespace xvgpu::ioreq
