"""Imports every module that registers `/calbot` subcommands (see handlers/slack/commands.py)."""
