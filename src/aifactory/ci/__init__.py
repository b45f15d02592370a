"""What continuous-integration jobs run besides the command line: the GitHub comment poster.

Standard library only, so a CI step loads nothing of the server, the engine or the SDK.
"""
