#include "trainers/train_reporter.h"

#include "common/text.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace driftrun {
namespace {

void DrawBar(int64_t epoch, int64_t epochs, int64_t done, int64_t total, double loss, double sps) {
  const int width = 30;
  int fill = total > 0 ? static_cast<int>(width * done / total) : width;
  std::printf("\repoch %lld/%lld [%s%s] %lld/%lld loss %.4g  %.0f samples/s   ",
              static_cast<long long>(epoch) + 1, static_cast<long long>(epochs),
              std::string(fill, '#').c_str(), std::string(width - fill, '.').c_str(),
              static_cast<long long>(done), static_cast<long long>(total), loss, sps);
  std::fflush(stdout);
}

}  // namespace

nlohmann::json StepMsJson(const StepMsReport& r) {
  auto ms = [](double v) { return std::round(v * 1000) / 1000; };
  return {{"total", ms(r.total)},
          {"data", ms(r.data)},
          {"compute", ms(r.compute)},
          {"allreduce_exposed", ms(r.allreduce)},
          {"optimizer", ms(r.optimizer)},
          {"other", ms(std::max(0.0, r.total - r.data - r.compute - r.allreduce - r.optimizer))}};
}

TrainReporter::TrainReporter(RunLog log, TrainReporterOptions o) : log_(std::move(log)), o_(o) {
  if (!o_.clock) o_.clock = &SteadyClock();
  last_draw_ = o_.clock->Seconds();
}

void TrainReporter::Start(bool resuming, const nlohmann::json& fields, const std::string& console_line,
                          const std::string& resumed_from, int64_t step) {
  (void)log_.Event(resuming ? "resume" : "start", fields);
  if (!console()) return;
  std::printf("%s\n", console_line.c_str());
  if (resuming)
    std::printf("resumed from %s at step %lld\n", resumed_from.c_str(), static_cast<long long>(step));
  std::fflush(stdout);
}

void TrainReporter::Step(int64_t step, int64_t epoch, double loss, double lr) {
  if (o_.log_every_steps > 0 && step % o_.log_every_steps == 0) {
    (void)log_.Event("step", {{"step", step}, {"epoch", epoch + 1}, {"loss", loss}, {"lr", lr}});
  }
}

void TrainReporter::Progress(int64_t epoch, int64_t epochs, int64_t batch, int64_t batches, double loss,
                             double sps) {
  if (!o_.progress_bar || o_.rank != 0) return;
  const double now = o_.clock->Seconds();
  if (now - last_draw_ <= 0.1) return;
  last_draw_ = now;
  bar_drawn_ = true;
  DrawBar(epoch, epochs, batch, batches, loss, sps);
}

Status TrainReporter::Epoch(const EpochReport& e) {
  nlohmann::json row = {{"epoch", e.epoch + 1},
                        {"step", e.step},
                        {"train_loss", e.train_loss},
                        {"val_loss", JsonNumberOrNull(e.val_loss)},
                        {"val_metric", JsonNumberOrNull(e.val_metric)},
                        {"samples_per_s", e.samples_per_s},
                        {"lr", e.lr},
                        {"wall_s", e.wall_s}};
  if (e.partial) row["partial"] = true;
  if (e.step_ms.steps > 0) row["step_ms"] = StepMsJson(e.step_ms);
  Status st = log_.Metrics(row);
  if (o_.rank == 0 && o_.on_epoch) o_.on_epoch(row);
  if (bar_drawn_) std::printf("\n");
  bar_drawn_ = false;
  if (console()) {
    std::printf("epoch %lld/%lld step %lld train_loss %.6g val_loss %.6g val_%s %.6g %.0f samples/s\n",
                static_cast<long long>(e.epoch) + 1, static_cast<long long>(e.epochs),
                static_cast<long long>(e.step), e.train_loss, e.val_loss, e.metric_name, e.val_metric,
                e.samples_per_s);
    std::fflush(stdout);
  }
  return st;
}

void TrainReporter::Checkpoint(int64_t step, const std::string& path, double seconds) {
  (void)log_.Event("checkpoint", {{"step", step}, {"path", path}, {"seconds", seconds}});
}

void TrainReporter::NonFiniteLoss(int64_t step, int64_t epoch) {
  (void)log_.Event("error", {{"reason", "non-finite loss"}, {"step", step}, {"epoch", epoch + 1}});
}

void TrainReporter::Stopped(int64_t step, const std::string& checkpoint, const std::string& resume_command) {
  (void)log_.Event("stop", {{"step", step}, {"checkpoint", checkpoint}, {"resume", resume_command}});
  if (o_.rank != 0) return;
  if (bar_drawn_) std::printf("\n");  // end the bar's line
  bar_drawn_ = false;
  std::printf("stopped by signal at step %lld; checkpoint %s\nresume with: %s\n",
              static_cast<long long>(step), EscapeForConsole(checkpoint).c_str(), resume_command.c_str());
  std::fflush(stdout);
}

void TrainReporter::Done(int64_t step, double wall_s, const std::string& run_dir) {
  (void)log_.Event("done", {{"step", step}, {"wall_s", wall_s}});
  if (console()) {
    std::printf("done: %lld steps in %.2f s; summary %s/summary.json\n", static_cast<long long>(step), wall_s,
                EscapeForConsole(run_dir).c_str());
  }
}

}  // namespace driftrun
