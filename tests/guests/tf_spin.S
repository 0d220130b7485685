/* tf_step.S without an end: single-steps until the VMM is killed. */
#define TF_STEPS 0
#include "tf_step.S"
