// The config schema: every key driftrun reads, its type, default and meaning,
// one function per section (in the order configs/README.md lists them).
#include "common/config.h"

namespace driftrun {
namespace {

using T = ValueType;
using Keys = std::vector<KeyInfo>;

Keys TopLevelKeys() {
  return {
      {"", "name", T::kString, "\"driftrun\"", "", "run and model name; run folders are runs/<name>-<time>"},
  };
}

Keys DataKeys() {
  return {
      {"data", "train", T::kStringList, "[\"data/train.h5\"]", "",
       "training data: an HDF5 file, or a list of files read as one table (same layout, columns matched by "
       "name, each file held out by its own val_fraction split); relative to the config file's folder"},
      {"data", "val", T::kString, "\"\"", "",
       "optional validation HDF5 file (relative to the config file); empty: hold out val_fraction of train"},
      {"data", "val_fraction", T::kFloat, "0.1", "",
       "share of train rows held out for validation when val is empty (0 disables validation); a row's side "
       "is a fixed hash of its index, not of the seed: every model trained on a file holds out the same "
       "rows"},
      {"data", "features", T::kString, "\"/features\"", "",
       "float32 [N, D] dataset; NaN marks a missing value"},
      {"data", "labels", T::kString, "\"/labels\"", "",
       "float32 [N] or [N, K] (regression) or int64 [N] (classification) dataset"},
      {"data", "images", T::kString, "\"/images\"", "",
       "float32 [N, C, H, W] dataset read by model.kind = \"cnn\" (NaN marks a missing pixel)"},
      {"data", "text", T::kString, "\"/text\"", "",
       "variable-length string [N] dataset read by model.kind = \"text\""},
      {"data", "memory_mb", T::kFloat, "0.0", "",
       "how much of the training data one rank may hold, in MB (0: a quarter of the machine's memory, or of "
       "the container's cgroup limit when smaller). When "
       "the whole training set (raw + preprocessed) is larger, every rank streams its shard in chunks with a "
       "read-ahead thread, and the epoch's order is chunk order plus a shuffle window; the whole set decides "
       "(not the shard), so any rank count trains the same batches, and a resume keeps its checkpoint's "
       "order. Streaming reads tabular and image features, not text"},
      {"data", "stream_chunk_rows", T::kInt, "4096", "",
       "when streaming: rows per read, the unit whose order each epoch shuffles (windows hold as many chunks "
       "as a third of data.memory_mb)"},
  };
}

Keys PreprocessKeys() {
  return {
      {"preprocess", "impute", T::kString, "\"mean\"", "mean|median|zero|constant",
       "value put in place of a missing (NaN) or +-Inf feature, from the training data"},
      {"preprocess", "fill_value", T::kFloat, "0.0", "", "the value for impute = \"constant\""},
      {"preprocess", "scale", T::kString, "\"standard\"", "standard|minmax|none",
       "standard: (x - mean) / std; minmax: (x - min) / (max - min); constant columns are not scaled"},
      {"preprocess", "clip_sigma", T::kFloat, "0.0", "", "> 0 clips standardized features to +-clip_sigma"},
      {"preprocess", "output", T::kString, "\"float32\"", "float32|bf16",
       "precision of the preprocessed features held in memory for training"},
      {"preprocess", "text_buckets", T::kInt, "262144", "", "text: hashed n-gram buckets (embedding rows)"},
      {"preprocess", "word_ngrams", T::kInt, "2", "", "text: 1 words only, 2 words and word bigrams"},
      {"preprocess", "char_ngrams", T::kInt, "3", "", "text: length of char n-grams within words (0: none)"},
      {"preprocess", "max_ngrams", T::kInt, "256", "",
       "text: n-gram ids kept per text (the rest is dropped)"},
      {"preprocess", "columns", T::kStringList, "[]", "",
       "per-column overrides \"NAME:key=value\" with key impute, fill_value, scale or clip_sigma, e.g. "
       "[\"f3:impute=median\"]"},
  };
}

Keys ModelKeys() {
  return {
      {"model", "kind", T::kString, "\"mlp\"", "mlp|cnn|text",
       "mlp: data.features; cnn: data.images, conv blocks then the hidden layers; text: data.text, hashed "
       "word and char n-grams into a mean EmbeddingBag, then the hidden layers"},
      {"model", "task", T::kString, "\"regression\"", "regression|classification",
       "loss and metric: MSE/RMSE or cross-entropy/accuracy"},
      {"model", "hidden", T::kIntList, "[128, 128]", "", "hidden layer widths of the MLP"},
      {"model", "activation", T::kString, "\"relu\"", "relu|tanh|gelu|sigmoid",
       "activation between hidden layers"},
      {"model", "dropout", T::kFloat, "0.0", "", "dropout probability after each hidden activation"},
      {"model", "channels", T::kIntList, "[16, 32]", "",
       "cnn: output channels of each conv block (conv, activation, 2x2 max pool)"},
      {"model", "kernel", T::kInt, "3", "", "cnn: conv kernel size (odd; padding keeps the image size)"},
      {"model", "embedding_dim", T::kInt, "64", "", "text: width of the n-gram embedding"},
      {"model", "classes", T::kInt, "0", "",
       "number of classes; 0 infers max(label)+1 from the training data (classes below it that no "
       "training row has are named in a warning: a stray label?)"},
  };
}

Keys TrainKeys() {
  return {
      {"train", "epochs", T::kInt, "10", "", "passes over the training data"},
      {"train", "max_steps", T::kInt, "0", "",
       "> 0 stops after this many optimizer steps, overriding epochs"},
      {"train", "batch_size", T::kInt, "256", "",
       "global batch, split evenly across ranks (must divide by the number of ranks)"},
      {"train", "optimizer", T::kString, "\"adamw\"", "sgd|adam|adamw", "optimizer"},
      {"train", "lr", T::kFloat, "1e-3", "", "peak learning rate"},
      {"train", "weight_decay", T::kFloat, "0.0", "", "L2 penalty (sgd, adam) or decoupled decay (adamw)"},
      {"train", "momentum", T::kFloat, "0.0", "", "sgd momentum"},
      {"train", "beta1", T::kFloat, "0.9", "", "adam/adamw first-moment decay"},
      {"train", "beta2", T::kFloat, "0.999", "", "adam/adamw second-moment decay"},
      {"train", "eps", T::kFloat, "1e-8", "", "adam/adamw denominator epsilon"},
      {"train", "schedule", T::kString, "\"constant\"", "constant|step|cosine",
       "learning-rate schedule after warm-up"},
      {"train", "warmup_steps", T::kInt, "0", "", "linear warm-up from 0 to lr over this many steps"},
      {"train", "step_every", T::kInt, "1000", "",
       "step schedule: multiply lr by step_gamma every this many steps"},
      {"train", "step_gamma", T::kFloat, "0.1", "", "step schedule factor"},
      {"train", "min_lr", T::kFloat, "0.0", "", "cosine schedule floor"},
      {"train", "grad_clip", T::kFloat, "0.0", "", "> 0 clips the global gradient norm"},
      {"train", "seed", T::kInt, "42", "",
       "seeds weights, shuffling and dropout; results do not depend on the number of ranks"},
      {"train", "shuffle", T::kBool, "true", "", "reshuffle training rows every epoch"},
      {"train", "init_from", T::kString, "\"\"", "",
       "warm start: begin with the weights and fitted preprocessing of this checkpoint (a manifest .json, or "
       "a registry checkpoint .h5) and a fresh optimizer; relative to the config file; empty: from scratch"},
      {"train", "threads", T::kInt, "0", "",
       "intra-op threads per rank (at most 1024); 0 = cores / ranks on the node"},
      {"train", "device", T::kString, "\"auto\"", "auto|cpu|cuda",
       "where to train; auto uses CUDA when a GPU is present"},
      {"train", "cuda_graph", T::kString, "\"auto\"", "auto|on|off",
       "on CUDA, capture an MLP's forward and backward once as a CUDA graph and replay it for every batch of "
       "the same shape (the same results, far fewer kernel launches); auto: when training an MLP without "
       "dropout on CUDA; on: refuse to start otherwise; off: launch every kernel"},
      {"train", "log_every_steps", T::kInt, "0", "",
       "> 0 writes a 'step' event with the loss every this many steps"},
  };
}

Keys DistKeys() {
  return {
      {"dist", "backend", T::kString, "\"auto\"", "auto|mpi|nccl",
       "gradient all-reduce: auto = nccl for CUDA tensors, mpi for CPU"},
      {"dist", "bucket_mb", T::kFloat, "25.0", "",
       "gradient bucket size in MiB; a bucket is reduced as soon as it fills"},
      {"dist", "shared_memory", T::kString, "\"auto\"", "auto|on|off",
       "on the CPU, ranks on one host meet through shared memory instead of an all-reduce: each rank sums "
       "the gradients of 1/N of the weights, runs the optimizer on them and hands them to the others (the "
       "same "
       "results as the all-reduce with 2 ranks; faster on small models); auto: when every rank maps it; on: "
       "refuse to start when several ranks cannot (exit 2 on a GPU, 5 when the host refuses, e.g. a full "
       "/dev/shm; one rank has nothing to share); off: always the MPI all-reduce"},
      {"dist", "verify_every_steps", T::kInt, "0", "",
       "> 0 checks every this many steps that all ranks hold bit-identical weights (exit 5 if not)"},
      {"dist", "timeout_s", T::kFloat, "600.0", "",
       "deadline of every collective (MPI and NCCL); on expiry the job names the ranks that never arrived "
       "and exits 5 so a supervisor can restart it"},
  };
}

Keys CheckpointKeys() {
  return {
      {"checkpoint", "every_steps", T::kInt, "100", "",
       "write a checkpoint every this many steps (0 = only at the end)"},
      {"checkpoint", "keep", T::kInt, "3", "",
       "keep the newest K checkpoints, and the one with the lowest training loss (so a run that diverged "
       "keeps a healthy one to resume from)"},
      {"checkpoint", "initial", T::kBool, "false", "",
       "also write a checkpoint of the initial weights (step 0)"},
  };
}

Keys DriftKeys() {
  return {
      {"drift", "method", T::kString, "\"auto\"", "auto|psi|ks|wasserstein|jensenshannon",
       "statistic that flags a feature; auto: KS p-value for references of <= 1000 rows, else normalised "
       "Wasserstein (Evidently's rule)"},
      {"drift", "share", T::kFloat, "0.5", "",
       "the dataset drifts when at least this share of features drift"},
      {"drift", "ks_pvalue", T::kFloat, "0.05", "", "KS p-value below which a feature drifts"},
      {"drift", "wasserstein", T::kFloat, "0.1", "",
       "Wasserstein-1 / reference std at or above which a feature drifts"},
      {"drift", "psi", T::kFloat, "0.25", "",
       "PSI at or above which a feature drifts (and its psi_level is drift)"},
      {"drift", "psi_watch", T::kFloat, "0.1", "", "PSI at or above which psi_level is watch"},
      {"drift", "jensenshannon", T::kFloat, "0.1", "",
       "Jensen-Shannon distance at or above which a feature drifts"},
      {"drift", "missing_rise", T::kFloat, "0.1", "",
       "a feature drifts (decided_by missing) when its missing share (NaN or +-Inf) rises by more than this "
       "over the reference's, beyond chance for the batch's size (under 0.1% of batches drawn at the "
       "reference's share reach it); a feature with no finite value drifts the same way; predict and "
       "preprocess warn when they impute more than this share of a column"},
      {"drift", "memory_mb", T::kFloat, "1024.0", "",
       "exact statistics on the raw samples when both fit in this budget, else histogram-based"},
  };
}

Keys ExportKeys() {
  return {
      {"export", "onnx", T::kBool, "true", "",
       "write model.onnx (preprocessing folded in) into the run folder when training finishes"},
  };
}

Keys RegistryKeys() {
  return {
      {"registry", "path", T::kString, "\"driftrun-registry\"", "",
       "model registry folder: registry.db (SQLite) and artifacts/ (content-addressed); relative to the "
       "config "
       "file"},
      {"registry", "register", T::kBool, "false", "",
       "register the finished run as a new version of model `name` with alias candidate"},
      {"registry", "require_approval", T::kBool, "false", "",
       "policy: moving a gated alias needs an approval (driftrun registry approve). Policy keys initialise "
       "the model's policy in the registry at its first registration; afterwards `driftrun registry policy` "
       "changes it and only the stored policy applies"},
      {"registry", "tolerance", T::kFloat, "0.05", "",
       "policy: a gated alias refuses a candidate whose holdout loss exceeds its holder's by more than this "
       "share"},
      {"registry", "gated", T::kStringList, "[\"production\"]", "",
       "policy: aliases that go through the approval and loss gate (matched ignoring case and punctuation)"},
      {"registry", "separate_approver", T::kBool, "false", "",
       "policy: the promoter's own approval does not count (four eyes)"},
  };
}

// The retraining service (driftrun serve): [monitor], [trigger] and [retrain]
// belong to each model's experiment config, [service] to the service config.
Keys MlflowKeys() {
  return {
      {"mlflow", "tracking_uri", T::kString, "\"\"", "",
       "an MLflow tracking server (\"http://127.0.0.1:5000\"; empty: off): `driftrun train` logs the run "
       "there "
       "from rank 0 (params = the resolved config, metrics per epoch, lineage tags, the ONNX file and the "
       "run "
       "report as artifacts); a server that is down costs a warning, never the run. Credentials come from "
       "MLFLOW_TRACKING_TOKEN or MLFLOW_TRACKING_USERNAME/MLFLOW_TRACKING_PASSWORD"},
      {"mlflow", "experiment", T::kString, "\"\"", "",
       "the MLflow experiment the runs go to (created when missing); empty: the config's `name`"},
  };
}

Keys MonitorKeys() {
  return {
      {"monitor", "incoming", T::kString, "\"\"", "",
       "folder the service watches for new batches (*.h5, complete files renamed in), relative to the config "
       "file; empty: the model is not watched"},
      {"monitor", "min_rows", T::kInt, "200", "", "smaller batches are recorded but never trigger a retrain"},
  };
}

Keys TriggerKeys() {
  return {
      {"trigger", "consecutive", T::kInt, "1", "",
       "drifted batches needed among the last `of` batches (of = 0: in a row) to trigger a retrain"},
      {"trigger", "of", T::kInt, "0", "", "window of the k-of-n rule (0: same as consecutive)"},
      {"trigger", "cooldown_s", T::kFloat, "0.0", "",
       "after a retrain ends, no new drift trigger for this long"},
      {"trigger", "max_per_day", T::kInt, "24", "", "retrains per model queued per 24 h at most"},
      {"trigger", "metric_drop", T::kFloat, "0.1", "",
       "labelled batch: relative rise of the production model's loss over its holdout loss that counts as "
       "concept drift (when the lower end of its bootstrap 95% interval is above zero)"},
  };
}

Keys RetrainKeys() {
  return {
      {"retrain", "ranks", T::kInt, "2", "", "ranks per retraining job (capped by what the executor has)"},
      {"retrain", "window", T::kInt, "3", "",
       "labelled batches kept in the training window on top of data.train (0 = all)"},
      {"retrain", "warm_start", T::kBool, "true", "",
       "start from the production weights (fresh optimizer) instead of from scratch"},
      {"retrain", "promote", T::kString, "\"auto\"", "auto|approval",
       "auto: promote a challenger that wins; approval: register it and wait for driftrun registry approve"},
      {"retrain", "priority", T::kInt, "0", "", "higher runs first when jobs wait for ranks"},
      {"retrain", "reference", T::kString, "\"drift\"", "drift|training",
       "the reference profile later batches are checked against: drift: the window's labelled batches from "
       "the first batch that triggered the job on (the data since the change; all the training data when no "
       "batch triggered it or they hold fewer than monitor.min_rows rows); training: all the job's training "
       "data (data.train + the window), where a lasting shift stays a minority"},
  };
}

Keys ServiceKeys() {
  return {
      {"service", "models", T::kStringList, "[]", "",
       "service config: one experiment config per model (relative to this file)"},
      {"service", "state", T::kString, "\"driftrun-state\"", "",
       "service config: journal.db, job run folders, drift reports, quarantine/ (relative to this file)"},
      {"service", "executor", T::kString, "\"local\"", "local|pool|slurm",
       "service config: where jobs run (local: an mpirun child process per job; pool: the worker ranks "
       "1..N-1 of `mpirun -np N driftrun serve`; slurm: an sbatch job per job, resources from the model's "
       "[slurm])"},
      {"service", "poll_s", T::kFloat, "1.0", "",
       "service config: seconds between looks at the incoming folders"},
      {"service", "max_batches", T::kInt, "0", "",
       "service config: > 0: stop once this many batches were handled (counted in the journal) and every job "
       "they caused has ended"},
      {"service", "max_jobs", T::kInt, "1", "",
       "service config: jobs running at once (the pool also needs free ranks for each)"},
      {"service", "metrics", T::kString, "\"\"", "",
       "service config: \"127.0.0.1:9464\" serves Prometheus text at /metrics (empty: off; port 0: any free "
       "port, printed at start)"},
      {"service", "metrics_allow_remote", T::kBool, "false", "",
       "service config: allow a service.metrics address other than loopback"},
      {"service", "heartbeat_timeout_s", T::kFloat, "60.0", "",
       "service config: pool executor: a job leader silent this long (a hung rank, or a step or data load "
       "longer than this) ends the service with exit 5; a restart resumes the job"},
  };
}

Keys SlurmKeys() {
  return {
      {"slurm", "nodes", T::kInt, "1", "", "driftrun submit: nodes (--nodes wins)"},
      {"slurm", "ntasks_per_node", T::kInt, "1", "",
       "driftrun submit: ranks per node (--ntasks-per-node); ranks = nodes x this"},
      {"slurm", "gpus_per_node", T::kInt, "0", "",
       "driftrun submit: GPUs per node (--gpus-per-node); each rank takes the GPU of its SLURM_LOCALID"},
      {"slurm", "cpus_per_task", T::kInt, "1", "", "driftrun submit: CPUs per rank (--cpus-per-task)"},
      {"slurm", "time", T::kString, "\"\"", "",
       "driftrun submit: time limit, a Slurm time (MM, HH:MM:SS, D-HH:MM; --time); empty: the partition's"},
      {"slurm", "partition", T::kString, "\"\"", "",
       "driftrun submit: partition(s) (--partition); empty: default"},
      {"slurm", "account", T::kString, "\"\"", "", "driftrun submit: account (--account)"},
      {"slurm", "qos", T::kString, "\"\"", "", "driftrun submit: quality of service (--qos)"},
      {"slurm", "signal_before_s", T::kInt, "120", "",
       "driftrun submit: Slurm sends slurm.signal this many seconds before the time limit (--signal-before): "
       "every rank checkpoints at its next step and the job requeues itself (Slurm may send it up to 60 s "
       "early)"},
      {"slurm", "signal", T::kString, "\"USR1\"", "USR1|USR2",
       "driftrun submit: the time-limit warning signal (NCCL may claim USR1, NVIDIA/nccl#704: use USR2 there "
       "if "
       "it does)"},
      {"slurm", "max_requeues", T::kInt, "3", "",
       "driftrun submit: requeues after the time limit, and restarts after a node failure, each at most this "
       "often (preemption: unlimited; an application error: never)"},
      {"slurm", "mpi", T::kString, "\"pmix\"", "",
       "driftrun submit: srun --mpi plugin (Open MPI needs PMIx)"},
  };
}

Keys SweepKeys() {
  return {
      {"sweep", "method", T::kString, "\"grid\"", "grid|random",
       "driftrun submit: grid = every combination of sweep.params; random = sweep.trials draws, one value "
       "per "
       "key each"},
      {"sweep", "params", T::kStringList, "[]", "",
       "driftrun submit: the keys to sweep, each \"section.key = [value, ...]\" (TOML values), e.g. "
       "[\"train.lr = [1e-3, 3e-3]\", \"model.hidden = [[32], [64, 64]]\"]; empty: no sweep"},
      {"sweep", "trials", T::kInt, "8", "",
       "driftrun submit: trials of a random sweep, each a different combination (at most the grid's size)"},
      {"sweep", "seed", T::kInt, "0", "",
       "driftrun submit: the random sweep's draws (same seed, same trials)"},
      {"sweep", "max_parallel", T::kInt, "0", "",
       "driftrun submit: trials running at once (--array=...%N); 0: as many as Slurm allows"},
  };
}

}  // namespace

const std::vector<KeyInfo>& ConfigSchema() {
  static const std::vector<KeyInfo> kSchema = [] {
    Keys all;
    for (const Keys& section :
         {TopLevelKeys(), DataKeys(), PreprocessKeys(), ModelKeys(), TrainKeys(), DistKeys(),
          CheckpointKeys(), DriftKeys(), ExportKeys(), RegistryKeys(), MlflowKeys(), MonitorKeys(),
          TriggerKeys(), RetrainKeys(), ServiceKeys(), SlurmKeys(), SweepKeys()}) {
      all.insert(all.end(), section.begin(), section.end());
    }
    return all;
  }();
  return kSchema;
}

}  // namespace driftrun
