"""Notification service: in-app notices and messages triggered by events."""

NAME = "notification"
