// Internals of the plugin's config half, shared by its files:
//   pyconf.cpp          the PyConfApi table: reading a config file, hooks, fork handling
//   pyconf_objects.cpp  the Python code behind it (reading as gunicorn does, stand-ins)
//   hooked_app.cpp      pre_request/post_request around an App
#pragma once

#include "app/pyconf_plugin.h"
#include "app/wsgi/wsgi.h"

namespace cppicorn::wsgi {

// The Python source of the helper module (pyconf_objects.cpp).
const char* pyconf_source();

// Whether the config defines `hook` (no Python).
bool hook_defined(const char* hook);
// The helper module's dict (borrowed; after a read). Needs the GIL.
PyObject* pyconf_namespace();
// A new Config object from the settings' effective values; nullptr with an error set.
PyObject* make_cfg(const config::Settings& s);
// A new Worker object; nullptr with an error set.
PyObject* make_worker(const app::HookWorker& w, PyObject* cfg);
// Calls helper `call(name, *args)` (steals args, a tuple); logs what fails. Needs the GIL.
void call_hook(const char* name, PyObject* args);

// The asgi glue's (begin, end) pair that runs pre_request/post_request around each HTTP
// request, or None when neither is defined; nullptr with an error set. Needs the GIL.
PyObject* asgi_request_hooks(const app::HookWorker& w, const config::Settings& s);
// pre_request/post_request around `inner` (hooked_app.cpp).
app::App* new_hooked_app(app::App* inner, const app::HookWorker& worker,
                         const config::Settings& cfg);

}  // namespace cppicorn::wsgi
