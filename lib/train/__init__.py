"""Notebooks 02-03: the architectures, the teacher, the student bank, distillation and the simple baselines."""
