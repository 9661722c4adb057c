#include "export/onnx_export.h"

#include <onnx/checker.h>
#include <onnx/onnx_pb.h>
#include <onnx/shape_inference/implementation.h>

#include <cmath>

namespace driftrun {
namespace {

using onnx::TensorProto;

class GraphBuilder {
 public:
  explicit GraphBuilder(onnx::GraphProto* g) : g_(g) {}

  std::string Init(const std::string& name, const std::vector<int64_t>& dims, const std::vector<float>& v) {
    TensorProto* t = g_->add_initializer();
    t->set_name(name);
    t->set_data_type(TensorProto::FLOAT);
    for (int64_t d : dims) t->add_dims(d);
    t->set_raw_data(std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float)));
    return name;
  }
  std::string InitInt(const std::string& name, const std::vector<int64_t>& v) {
    TensorProto* t = g_->add_initializer();
    t->set_name(name);
    t->set_data_type(TensorProto::INT64);
    t->add_dims(static_cast<int64_t>(v.size()));
    for (int64_t x : v) t->add_int64_data(x);
    return name;
  }
  std::string Scalar(const std::string& name, float v) {
    TensorProto* t = g_->add_initializer();
    t->set_name(name);
    t->set_data_type(TensorProto::FLOAT);
    t->add_float_data(v);
    return name;
  }
  // One node; returns its (single) output name.
  onnx::NodeProto* Node(const std::string& op, const std::vector<std::string>& in, const std::string& out) {
    onnx::NodeProto* n = g_->add_node();
    n->set_op_type(op);
    n->set_name(out);
    for (const auto& i : in) n->add_input(i);
    n->add_output(out);
    return n;
  }
  std::string Op(const std::string& op, const std::vector<std::string>& in) {
    const std::string out = "t" + std::to_string(next_++) + "_" + op;
    Node(op, in, out);
    return out;
  }
  static void Attr(onnx::NodeProto* n, const std::string& name, int64_t v) {
    auto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INT);
    a->set_i(v);
  }
  static void Attr(onnx::NodeProto* n, const std::string& name, const std::vector<int64_t>& v) {
    auto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INTS);
    for (int64_t x : v) a->add_ints(x);
  }
  std::string OpAttr(const std::string& op, const std::vector<std::string>& in, const std::string& name,
                     int64_t v) {
    const std::string out = "t" + std::to_string(next_++) + "_" + op;
    Attr(Node(op, in, out), name, v);
    return out;
  }

 private:
  onnx::GraphProto* g_;
  int next_ = 0;
};

void ValueInfo(onnx::ValueInfoProto* v, const std::string& name, int elem,
               const std::vector<std::string>& dims_param, const std::vector<int64_t>& dims) {
  v->set_name(name);
  auto* tt = v->mutable_type()->mutable_tensor_type();
  tt->set_elem_type(elem);
  auto* shape = tt->mutable_shape();
  for (const auto& p : dims_param) shape->add_dim()->set_dim_param(p);
  for (int64_t d : dims) shape->add_dim()->set_dim_value(d);
}

// The fused transform of kernels/kernel_math.h (TransformScalar) as ONNX ops.
std::string Preprocess(GraphBuilder& b, const Preprocessor& pre, std::string x) {
  const auto v = ParamColumns(pre);
  const int64_t d = pre.dim();
  const std::string bad = b.Op("Or", {b.Op("IsNaN", {x}), b.Op("IsInf", {x})});
  x = b.Op("Where", {bad, b.Init("pre_fill", {d}, v[0]), x});
  x = b.Op("Mul", {b.Op("Sub", {x, b.Init("pre_shift", {d}, v[1])}), b.Init("pre_scale", {d}, v[2])});
  x = b.Op("Min", {b.Op("Max", {x, b.Init("pre_lo", {d}, v[3])}), b.Init("pre_hi", {d}, v[4])});
  if (pre.bf16) {
    x = b.OpAttr("Cast", {x}, "to", TensorProto::BFLOAT16);
    x = b.OpAttr("Cast", {x}, "to", TensorProto::FLOAT);
  }
  return x;
}

using Weights = std::map<std::string, const NamedArray*>;

// One layer of the description as ONNX nodes after value *x (updated).
Status AddLayer(GraphBuilder& b, const ModelSpec& spec, const LayerSpec& l, Weights& weights,
                std::string* xp) {
  std::string& x = *xp;
  const std::string p = "layers." + std::to_string(l.param);
  auto w = [&](const char* what) {
    const NamedArray* a = weights[p + what];
    return b.Init(p + what, a->dims, a->data);
  };
  if (l.op == "linear") {
    const std::string out = b.OpAttr("Gemm", {x, w(".weight"), w(".bias")}, "transB", 1);
    x = out;
  } else if (l.op == "conv2d") {
    const std::string out = "t_conv" + std::to_string(l.param);
    auto* n = b.Node("Conv", {x, w(".weight"), w(".bias")}, out);
    GraphBuilder::Attr(n, "kernel_shape", std::vector<int64_t>{l.kernel, l.kernel});
    GraphBuilder::Attr(n, "pads", std::vector<int64_t>{l.pad, l.pad, l.pad, l.pad});
    GraphBuilder::Attr(n, "strides", std::vector<int64_t>{1, 1});
    x = out;
  } else if (l.op == "maxpool2d") {
    const std::string out = x + "_pool";
    auto* n = b.Node("MaxPool", {x}, out);
    GraphBuilder::Attr(n, "kernel_shape", std::vector<int64_t>{l.kernel, l.kernel});
    GraphBuilder::Attr(n, "strides", std::vector<int64_t>{l.kernel, l.kernel});
    x = out;
  } else if (l.op == "embedding_bag") {
    // mean over the row's non-padding ids: sum(E[id] * mask) / max(count, 1)
    const std::string mask =
        b.OpAttr("Cast", {b.Op("Not", {b.Op("Equal", {x, b.InitInt("pad_id", {spec.pad_id})})})}, "to",
                 TensorProto::FLOAT);
    const std::string axis1 = b.InitInt("axis1", {1}), axis2 = b.InitInt("axis2", {2});
    const std::string gathered = b.OpAttr("Gather", {w(".weight"), x}, "axis", 0);
    const std::string masked = b.Op("Mul", {gathered, b.Op("Unsqueeze", {mask, axis2})});
    const std::string sum = b.OpAttr("ReduceSum", {masked, axis1}, "keepdims", 0);
    const std::string cnt = b.OpAttr("ReduceSum", {mask, axis1}, "keepdims", 1);
    x = b.Op("Div", {sum, b.Op("Max", {cnt, b.Scalar("one", 1.0f)})});
  } else if (l.op == "relu") {
    x = b.Op("Relu", {x});
  } else if (l.op == "tanh") {
    x = b.Op("Tanh", {x});
  } else if (l.op == "sigmoid") {
    x = b.Op("Sigmoid", {x});
  } else if (l.op == "gelu") {
    // exact GELU (opset 17 has no Gelu): 0.5 * x * (1 + erf(x / sqrt(2)))
    const std::string e = b.Op("Erf", {b.Op("Div", {x, b.Scalar("gelu_sqrt2_" + x, std::sqrt(2.0f))})});
    x = b.Op("Mul", {b.Op("Mul", {x, b.Scalar("gelu_half_" + x, 0.5f)}),
                     b.Op("Add", {e, b.Scalar("gelu_one_" + x, 1.0f)})});
  } else if (l.op == "flatten") {
    x = b.OpAttr("Flatten", {x}, "axis", 1);
  } else if (l.op == "reshape") {
    std::vector<int64_t> shape = {-1};
    shape.insert(shape.end(), l.shape.begin(), l.shape.end());
    x = b.Op("Reshape", {x, b.InitInt("shape_" + x, shape)});
  } else if (l.op == "dropout") {
    // identity at inference
  } else {
    return Status::Data("model description has an unknown layer '" + l.op + "'");
  }
  return Status::Ok();
}

// The weights by name, each present with the description's shape.
Result<Weights> CheckedWeights(const CheckpointState& ck, const ModelSpec& spec) {
  Weights weights;
  for (const auto& a : ck.model) weights[a.name] = &a;
  for (const auto& [name, dims] : spec.Params()) {
    auto it = weights.find(name);
    if (it == weights.end()) return Status::Data("checkpoint has no weights for '" + name + "'");
    if (it->second->dims != dims) return Status::Data("checkpoint weights '" + name + "' have another shape");
  }
  if (spec.kind != "text" && ck.pre.dim() != spec.input_width()) {
    return Status::Data("checkpoint preprocessing has " + std::to_string(ck.pre.dim()) +
                        " columns, the model " + std::to_string(spec.input_width()) + " inputs");
  }
  return weights;
}

void SetHeader(onnx::ModelProto* m, const std::map<std::string, std::string>& metadata,
               const std::string& producer_version) {
  m->set_ir_version(kOnnxIrVersion);
  m->set_producer_name("driftrun");
  m->set_producer_version(producer_version);
  m->set_model_version(1);
  auto* opset = m->add_opset_import();
  opset->set_domain("");
  opset->set_version(kOnnxOpset);
  for (const auto& [k, v] : metadata) {
    auto* p = m->add_metadata_props();
    p->set_key(k);
    p->set_value(v);
  }
}

// Outputs "prediction" (values, or softmax probabilities) and, for
// classification, "label" (argmax).
// Text ids outside [0, pad_id] are not the model's. ONNX cannot raise an error
// (and Gather would wrap a negative id to another row), so such ids are read as
// padding and their rows are marked: *bad_row is bool [N, 1].
std::string CheckIds(GraphBuilder& b, const ModelSpec& spec, const std::string& input, std::string* bad_row) {
  const std::string valid = b.Op("And", {b.Op("GreaterOrEqual", {input, b.InitInt("id_min", {0})}),
                                         b.Op("LessOrEqual", {input, b.InitInt("id_max", {spec.pad_id})})});
  const std::string invalid = b.OpAttr("Cast", {b.Op("Not", {valid})}, "to", TensorProto::FLOAT);
  const std::string count = b.OpAttr("ReduceSum", {invalid, b.InitInt("id_axis", {1})}, "keepdims", 1);
  *bad_row = b.Op("Greater", {count, b.Scalar("id_none", 0.0f)});
  return b.Op("Where", {valid, input, b.InitInt("id_pad", {spec.pad_id})});
}

// The outputs; rows marked in `bad_row` (text ids out of range, "" for none)
// get NaN predictions and label -1, never an answer.
void AddOutputs(onnx::GraphProto* g, GraphBuilder& b, const ModelSpec& spec, std::string x,
                const std::string& bad_row) {
  const bool cls = spec.task == "classification";
  if (!bad_row.empty()) x = b.Op("Where", {bad_row, b.Scalar("id_nan", NAN), x});
  if (cls) {
    GraphBuilder::Attr(b.Node("Softmax", {x}, "prediction"), "axis", int64_t{1});
    const std::string label = bad_row.empty() ? "label" : "label_raw";
    auto* am = b.Node("ArgMax", {x}, label);
    GraphBuilder::Attr(am, "axis", int64_t{1});
    GraphBuilder::Attr(am, "keepdims", int64_t{0});
    if (!bad_row.empty()) {
      b.Node(
          "Where",
          {b.Op("Squeeze", {bad_row, b.InitInt("id_squeeze", {1})}), b.InitInt("id_no_label", {-1}), label},
          "label");
    }
  } else {
    b.Node("Identity", {x}, "prediction");
  }
  ValueInfo(g->add_output(), "prediction", TensorProto::FLOAT, {"N"}, {spec.out});
  if (cls) ValueInfo(g->add_output(), "label", TensorProto::INT64, {"N"}, {});
}

}  // namespace

Result<std::string> BuildOnnx(const CheckpointState& ck, const std::map<std::string, std::string>& metadata,
                              const std::string& producer_version) {
  DRIFTRUN_ASSIGN_OR_RETURN(ModelSpec spec, ModelSpec::FromJson(ck.model_spec));
  DRIFTRUN_ASSIGN_OR_RETURN(Weights weights, CheckedWeights(ck, spec));
  const bool text = spec.kind == "text";
  onnx::ModelProto m;
  SetHeader(&m, metadata, producer_version);
  onnx::GraphProto* g = m.mutable_graph();
  g->set_name(spec.kind);
  GraphBuilder b(g);
  if (text) {
    ValueInfo(g->add_input(), "input", TensorProto::INT64, {"N", "L"}, {});
  } else {
    ValueInfo(g->add_input(), "input", TensorProto::FLOAT, {"N"}, spec.input);
  }
  std::string x = "input", bad_row;
  if (text) {
    x = CheckIds(b, spec, x, &bad_row);
  } else {
    if (spec.input.size() > 1) x = b.OpAttr("Flatten", {x}, "axis", 1);
    x = Preprocess(b, ck.pre, x);
  }
  for (const auto& l : spec.layers) DRIFTRUN_RETURN_IF_ERROR(AddLayer(b, spec, l, weights, &x));
  AddOutputs(g, b, spec, x, bad_row);

  try {
    onnx::checker::check_model(m);
    onnx::ShapeInferenceOptions opts{true, 1, false};
    onnx::shape_inference::InferShapes(m, onnx::OpSchemaRegistry::Instance(), opts);
  } catch (const std::exception& e) {
    return Status::Data(std::string("the ONNX checker refused the exported graph: ") + e.what());
  }
  std::string bytes;
  if (!m.SerializeToString(&bytes)) return Status::Infra("cannot serialize the ONNX model");
  return bytes;
}

}  // namespace driftrun
