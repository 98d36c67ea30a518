// The xvgpuctl verbs, one function each (main.cc wires them to the command line). Each
// prints its result (JSON with --json) and throws CtlError with the exit code on failure.
#pragma once

#include <string>
#include <vector>

#include "ctl/verb_support.h"

namespace xvgpu::ctl {

// verb_definitions.cc: what can be defined, and the persistent definitions.
void cmd_types(const Globals& g);

struct DefineArgs {
  std::string uuid;
  std::string type;
  std::string bdf;
  std::vector<std::string> knobs;
  std::string vm;
  long domain = -1;
  bool autostart = false;
  bool replace = false;
  std::string vnc;                // console address (spec key vnc=)
  std::string vnc_password_file;  // spec key vnc-password-file=
  std::string rom;                // spec key rom=
  std::string jsonfile;           // a definition as list --dumpjson prints it
};

void cmd_define(const Globals& g, const DefineArgs& a);

// Changes to a stored definition (mdevctl modify); empty / unset members leave a field as it is.
struct ModifyArgs {
  std::string uuid;
  std::string type;
  std::string bdf;
  std::vector<std::string> knobs;        // K=V: added or changed
  std::vector<std::string> unset_knobs;  // K: removed (the vendor's default applies)
  std::string vm;
  bool autostart = false;
  bool manual = false;  // not --autostart any more
  std::string vnc;
  std::string rom;
  bool live = false;  // also set the --knob values in the running vGPU
};
void cmd_modify(const Globals& g, const ModifyArgs& a);
void cmd_undefine(const Globals& g, const std::string& uuid_text);
struct ListArgs {
  long domain = -1;
  std::string uuid;
  bool defined_only = false;
  bool active_only = false;
  bool dumpjson = false;  // the definitions as stored (define --jsonfile reads them back)
};
void cmd_list(const Globals& g, const ListArgs& a);

// verb_start.cc: starting a domain's device model.
struct StartArgs {
  std::vector<std::string> uuids;
  long domain = -1;
  std::string vm;
  bool autostart = false;
  std::string hot_add_room;
  std::vector<std::string> vgpus;
  bool foreground = false;
  std::vector<std::string> dm_args;
};

void cmd_start(const Globals& g, const StartArgs& a);

// verb_stop_status.cc: stopping device models, their status, the end of a domain.
void cmd_stop(const Globals& g, long domain_arg, const std::string& uuid_text);
// Exit code: kExitNotRunning when a device model listed does not answer (state "not responding").
int cmd_status(const Globals& g, long domain_arg, bool wait);
void cmd_wait_end(const Globals& g, long domain_arg);

// verb_running_vgpu.cc: what an operator asks of, or changes in, a running vGPU.
void cmd_stats(const Globals& g, const std::string& uuid_text, long domain_arg);
void cmd_get(const Globals& g, const std::string& uuid_text, const std::string& knob);
// persist: also store the value in the vGPU's definition (checked before the live change).
void cmd_set(const Globals& g, const std::string& uuid_text, const std::string& knob,
             const std::string& value, bool persist);
void cmd_screenshot(const Globals& g, const std::string& uuid_text, const std::string& file);
void cmd_console(const Globals& g, const std::string& uuid_text);
void cmd_hot_add(const Globals& g, long domain_arg, const std::string& spec_text);
void cmd_hot_remove(const Globals& g, const std::string& uuid_text);

// verb_save_restore.cc: the vGPU part of xl save / restore.
void cmd_save_state(const Globals& g, long domain_arg, const std::string& file);
void cmd_qmp_proxy(const Globals& g, long domain_arg, const std::string& listen, const std::string& qemu,
                   long watch_pid);
void cmd_split_state(const std::string& in, const std::string& qemu_out, const std::string& vgpu_out);

}  // namespace xvgpu::ctl
