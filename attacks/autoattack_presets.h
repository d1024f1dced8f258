// AutoAttack's suites as registry entries, with the reference parameters (Croce & Hein 2020);
// the user's options do not change them:
//   autoattack       APGD-CE, APGD-T (9 targets), FAB-T (9 targets), Square (5,000 queries);
//                    for L1: APGD-CE (5 restarts), APGD-T (5 targets), both with the 3ε/2ε/ε
//                    schedule, and FAB-T
//   autoattack-plus  APGD-CE and APGD-DLR (5 restarts each), FAB (5 restarts), Square, APGD-T,
//                    FAB-T
//   autoattack-rand  APGD-CE and APGD-DLR with 20 EOT passes per step (randomised defenses)
// Square runs as AutoAttack builds it (resc_schedule=False): p halves at the raw query counts
// (10, 50, 200, …, 4000 within 5,000 queries), not at the 10,000-query schedule stretched.
#pragma once

#include "attacks/attack_info.h"

namespace advtk {

AttackInfo autoattack_info();
AttackInfo autoattack_plus_info();
AttackInfo autoattack_rand_info();

}  // namespace advtk
