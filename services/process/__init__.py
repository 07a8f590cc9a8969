"""Process service: runs the credit SOP and the other BPMN/DMN models."""

NAME = "process"
