// ember/autograd/grad_mode.hpp - thread-local grad mode and NoGradGuard.
// When grad mode is off, ops record nothing (inference, optimiser updates, metrics).
#pragma once

namespace ember {

namespace detail {
inline bool& grad_mode_flag() {
    thread_local bool enabled = true;
    return enabled;
}
}  // namespace detail

/// Whether ops called on this thread record autograd history.
inline bool grad_enabled() { return detail::grad_mode_flag(); }
inline void set_grad_enabled(bool on) { detail::grad_mode_flag() = on; }

/// RAII: disables grad mode on this thread for its lifetime, then restores the previous mode.
class NoGradGuard {
public:
    NoGradGuard() : previous_(grad_enabled()) { set_grad_enabled(false); }
    NoGradGuard(const NoGradGuard&) = delete;
    NoGradGuard& operator=(const NoGradGuard&) = delete;
    ~NoGradGuard() { set_grad_enabled(previous_); }

private:
    bool previous_;
};

}  // namespace ember
