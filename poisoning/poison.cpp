#include "poisoning/poison.h"

#include <cmath>

#include "core/error.h"
#include "core/seeding.h"
#include "eval/batched.h"

namespace advtk {
namespace {

constexpr uint64_t kPoisonStream = 0x9015;

}  // namespace

std::string poison_attack_name(PoisonAttack attack) {
  switch (attack) {
    case PoisonAttack::BadNets:
      return "badnets";
    case PoisonAttack::Blend:
      return "blend";
    case PoisonAttack::LabelFlip:
      return "label-flip";
  }
  return "?";
}

std::string corner_name(Corner corner) {
  switch (corner) {
    case Corner::BottomRight:
      return "bottom-right";
    case Corner::BottomLeft:
      return "bottom-left";
    case Corner::TopRight:
      return "top-right";
    case Corner::TopLeft:
      return "top-left";
  }
  return "?";
}

void validate_poison(const PoisonOptions& o, const Dataset& data) {
  ADVTK_CHECK(data.size() > 0, data.source, ": no examples to poison");
  const int64_t classes = data.num_classes();
  ADVTK_CHECK(o.target >= 0 && o.target < classes, "--target: expected a class in [0, ",
              classes - 1, "], got ", o.target);
  ADVTK_CHECK(o.rate > 0 && o.rate < 1, "--rate: expected a fraction in (0, 1), got ", o.rate);
  if (o.attack == PoisonAttack::BadNets) {
    const int64_t h = data.images.size(2), w = data.images.size(3);
    ADVTK_CHECK(o.trigger_size >= 1 && o.trigger_size <= std::min(h, w),
                "--trigger-size: ", "expected 1 to ", std::min(h, w), " pixels (the image is ", h,
                "x", w, "), got ", o.trigger_size);
  }
  if (o.attack == PoisonAttack::Blend)
    ADVTK_CHECK(o.alpha > 0 && o.alpha <= 1, "--alpha: expected a weight in (0, 1], got ", o.alpha);
  const int64_t others = (data.labels != o.target).sum().item<int64_t>();
  const auto wanted = static_cast<int64_t>(std::llround(o.rate * static_cast<double>(data.size())));
  ADVTK_CHECK(wanted >= 1, "--rate ", o.rate, ": poisons no example of ", data.size());
  ADVTK_CHECK(wanted <= others, "--rate ", o.rate, ": ", wanted, " examples to poison, but only ",
              others, " are not of class ", o.target);
}

Trigger make_trigger(const PoisonOptions& o, const std::vector<int64_t>& shape) {
  const int64_t c = shape[0], h = shape[1], w = shape[2];
  Trigger t;
  t.mask = torch::zeros({1, h, w});
  t.pattern = torch::zeros({c, h, w});
  using torch::indexing::Slice;
  if (o.attack == PoisonAttack::BadNets) {
    const int64_t s = o.trigger_size;
    const bool bottom = o.corner == Corner::BottomRight || o.corner == Corner::BottomLeft;
    const bool right = o.corner == Corner::BottomRight || o.corner == Corner::TopRight;
    const int64_t top = bottom ? h - s : 0, left = right ? w - s : 0;
    t.mask.index_put_({Slice(), Slice(top, top + s), Slice(left, left + s)}, 1.0);
    t.pattern.index_put_({Slice(), Slice(top, top + s), Slice(left, left + s)}, 1.0);
  } else if (o.attack == PoisonAttack::Blend) {
    torch::Generator gen = make_generator(mix_seed(o.seed, kPoisonStream), 1);
    t.pattern = torch::rand({c, h, w}, gen);
    t.mask.fill_(o.alpha);
  }
  return t;
}

torch::Tensor apply_trigger(const Trigger& t, const torch::Tensor& images) {
  const torch::Tensor mask = t.mask.to(images.device()).unsqueeze(0);
  const torch::Tensor pattern = t.pattern.to(images.device()).unsqueeze(0);
  return ((1 - mask) * images + mask * pattern).clamp(0, 1);
}

PoisonedSet poison_dataset(const Dataset& clean, const PoisonOptions& o) {
  validate_poison(o, clean);
  PoisonedSet out;
  out.trigger = make_trigger(o, {clean.images.size(1), clean.images.size(2), clean.images.size(3)});
  const torch::Tensor candidates = torch::nonzero(clean.labels != o.target).squeeze(1);
  const auto n = static_cast<int64_t>(std::llround(o.rate * static_cast<double>(clean.size())));
  torch::Generator gen = make_generator(mix_seed(o.seed, kPoisonStream), 0);
  const torch::Tensor order = torch::randperm(candidates.size(0), gen);
  out.index = std::get<0>(candidates.index_select(0, order.narrow(0, 0, n)).sort());
  out.data = clean;
  out.data.images = clean.images.clone();
  out.data.labels = clean.labels.clone();
  if (!out.trigger.empty())
    out.data.images.index_copy_(
        0, out.index, apply_trigger(out.trigger, clean.images.index_select(0, out.index)));
  out.data.labels.index_fill_(0, out.index, o.target);
  out.data.source = clean.source + " (" + poison_attack_name(o.attack) + " poison)";
  return out;
}

double attack_success_rate(const Model& model, const Dataset& data, const Trigger& trigger,
                           int64_t target, int64_t batch_size) {
  const torch::Tensor others = torch::nonzero(data.labels != target).squeeze(1);
  ADVTK_CHECK(others.numel() > 0, data.source, ": no example outside the target class");
  const torch::Tensor x = apply_trigger(trigger, data.images.index_select(0, others));
  const torch::Tensor pred = predictions(model, model.from_unit_range(x), batch_size);
  return (pred.cpu() == target).to(torch::kDouble).mean().item<double>();
}

}  // namespace advtk
