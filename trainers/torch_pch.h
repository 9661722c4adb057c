// Precompiled header for the translation units that use LibTorch. Only .cpp files
// of trainers/ and the tests that need tensors include LibTorch; public headers
// used by runner/ stay free of it.
#pragma once
#include <torch/torch.h>
