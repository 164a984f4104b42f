// One function per dsatrain command; each parses its own options (see options.h).
#pragma once
#include <string>
#include <vector>

namespace dsa::cli {

using Args = std::vector<std::string>;

int run_train(const Args& args);
int run_eval(const Args& args);
int run_sample(const Args& args);
int run_prepare(const Args& args);
int run_export(const Args& args);
int run_import(const Args& args);
int run_bench(const Args& args);
int run_devices(const Args& args);

}  // namespace dsa::cli
