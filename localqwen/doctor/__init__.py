"""`localqwen doctor`: is this machine ready to run a model? Answers without crashing."""

from localqwen.doctor.report import Check, DoctorReport, run_doctor

__all__ = ["Check", "DoctorReport", "run_doctor"]
