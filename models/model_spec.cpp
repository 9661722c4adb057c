#include "models/model_spec.h"

#include <nlohmann/json.hpp>

namespace driftrun {

int64_t ModelSpec::input_width() const {
  int64_t w = 1;
  for (int64_t d : input) w *= d;
  return w;
}

std::vector<std::pair<std::string, std::vector<int64_t>>> ModelSpec::Params() const {
  std::vector<std::pair<std::string, std::vector<int64_t>>> out;
  for (const auto& l : layers) {
    const std::string p = "layers." + std::to_string(l.param);
    if (l.op == "linear") {
      out.push_back({p + ".weight", {l.out, l.in}});
      out.push_back({p + ".bias", {l.out}});
    } else if (l.op == "conv2d") {
      out.push_back({p + ".weight", {l.out, l.in, l.kernel, l.kernel}});
      out.push_back({p + ".bias", {l.out}});
    } else if (l.op == "embedding_bag") {
      out.push_back({p + ".weight", {l.in, l.out}});
    }
  }
  return out;
}

std::string ModelSpec::ToJson() const {
  nlohmann::json ls = nlohmann::json::array();
  for (const auto& l : layers) {
    nlohmann::json j = {{"op", l.op}};
    if (l.in) j["in"] = l.in;
    if (l.out) j["out"] = l.out;
    if (l.kernel) j["kernel"] = l.kernel;
    if (l.pad) j["pad"] = l.pad;
    if (l.p) j["p"] = l.p;
    if (!l.shape.empty()) j["shape"] = l.shape;
    if (l.param >= 0) j["param"] = l.param;
    ls.push_back(j);
  }
  nlohmann::json j = {{"kind", kind}, {"task", task},     {"input", input},
                      {"out", out},   {"pad_id", pad_id}, {"layers", ls}};
  if (kind == "text" && word_ngrams > 0) {
    j["text_hash"] = {{"word_ngrams", word_ngrams}, {"char_ngrams", char_ngrams}};
  }
  return j.dump();
}

Result<ModelSpec> ModelSpec::FromJson(const std::string& text) {
  if (text.empty()) {
    return Status::Data(
        "the checkpoint has no model description (written by an older driftrun); resume the run "
        "once with this version (driftrun train --resume) to write one");
  }
  try {
    auto j = nlohmann::json::parse(text);
    ModelSpec s;
    s.kind = j.at("kind").get<std::string>();
    s.task = j.at("task").get<std::string>();
    s.input = j.at("input").get<std::vector<int64_t>>();
    s.out = j.at("out").get<int64_t>();
    s.pad_id = j.value("pad_id", int64_t{-1});
    if (j.contains("text_hash")) {
      s.word_ngrams = j["text_hash"].value("word_ngrams", 0);
      s.char_ngrams = j["text_hash"].value("char_ngrams", 0);
    }
    for (const auto& l : j.at("layers")) {
      LayerSpec x;
      x.op = l.at("op").get<std::string>();
      x.in = l.value("in", int64_t{0});
      x.out = l.value("out", int64_t{0});
      x.kernel = l.value("kernel", int64_t{0});
      x.pad = l.value("pad", int64_t{0});
      x.p = l.value("p", 0.0);
      x.shape = l.value("shape", std::vector<int64_t>{});
      x.param = l.value("param", int64_t{-1});
      s.layers.push_back(x);
    }
    return s;
  } catch (const std::exception& e) {
    return Status::Data(std::string("model description is not valid JSON: ") + e.what());
  }
}

namespace {

void Dense(ModelSpec* s, const ModelOptions& o, int64_t width, int64_t* param) {
  for (int64_t h : o.hidden) {
    s->layers.push_back({"linear", width, h, 0, 0, 0, {}, (*param)++});
    s->layers.push_back({o.activation});
    if (o.dropout > 0) s->layers.push_back({"dropout", 0, 0, 0, 0, o.dropout});
    width = h;
  }
  s->layers.push_back({"linear", width, s->out, 0, 0, 0, {}, (*param)++});
}

}  // namespace

Result<ModelSpec> BuildModelSpec(const ModelOptions& o, const std::vector<int64_t>& input, int64_t out) {
  ModelSpec s;
  s.kind = o.kind;
  s.task = o.task;
  s.input = input;
  s.out = out;
  int64_t param = 0;
  if (o.kind == "mlp") {
    if (input.size() != 1) return Status::Usage("model.kind = \"mlp\" needs 2-D [rows, features] input");
    Dense(&s, o, input[0], &param);
  } else if (o.kind == "cnn") {
    if (input.size() != 3) {
      return Status::Usage(
          "model.kind = \"cnn\" needs 4-D [rows, channels, height, width] images (data.images)");
    }
    int64_t c = input[0], h = input[1], w = input[2];
    s.layers.push_back({"reshape", 0, 0, 0, 0, 0, {c, h, w}});
    for (int64_t ch : o.channels) {
      if (h < 2 || w < 2) {
        return Status::Usage("model.channels has " + std::to_string(o.channels.size()) +
                             " conv blocks, each halving the image, but the " + std::to_string(input[1]) +
                             "x" + std::to_string(input[2]) + " images allow fewer; remove a block");
      }
      s.layers.push_back({"conv2d", c, ch, o.kernel, o.kernel / 2, 0, {}, param++});
      s.layers.push_back({o.activation});
      s.layers.push_back({"maxpool2d", 0, 0, 2});
      c = ch;
      h /= 2;
      w /= 2;
    }
    s.layers.push_back({"flatten"});
    Dense(&s, o, c * h * w, &param);
  } else if (o.kind == "text") {
    if (input.size() != 1 || o.buckets <= 0)
      return Status::Usage("model.kind = \"text\" needs [text] buckets > 0");
    s.pad_id = o.buckets;
    s.layers.push_back({"embedding_bag", o.buckets + 1, o.embedding_dim, 0, 0, 0, {}, param++});
    Dense(&s, o, o.embedding_dim, &param);
  } else {
    return Status::Usage("model.kind = \"" + o.kind + "\" is not one of mlp, cnn, text");
  }
  return s;
}

}  // namespace driftrun
