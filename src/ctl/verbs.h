// The xvgpuctl verbs, by group: each add_*_verbs (in the verb_*.cc of its group) adds the
// group's subcommands to the command line with their options, and a callback that runs the verb
// once the command line is parsed and checked. A verb prints its result (JSON with --json) and
// throws CtlError with the exit code on failure; one that succeeds with another exit code than 0
// (status, when a device model does not answer) throws CLI::RuntimeError(code) after its output.
#pragma once

#include "ctl/verb_support.h"

namespace CLI {
class App;
}

namespace xvgpu::ctl {

// The callbacks keep `g`: it must outlive the parse (it is complete when a verb runs).

// verb_definitions.cc: the vGPU types the vendors offer, and the persistent definitions.
void add_definition_verbs(CLI::App& app, const Globals& g);
// verb_start.cc: starting a domain's device model.
void add_start_verbs(CLI::App& app, const Globals& g);
// verb_stop_status.cc: stopping device models, and their status.
void add_stop_status_verbs(CLI::App& app, const Globals& g);
// verb_running_vgpu.cc: what an operator asks of, or changes in, a running vGPU.
void add_running_vgpu_verbs(CLI::App& app, const Globals& g);
// verb_save_restore.cc: what the xl scripts run: the vGPU part of xl save and restore, and the
// end of a domain.
void add_save_restore_verbs(CLI::App& app, const Globals& g);

}  // namespace xvgpu::ctl
