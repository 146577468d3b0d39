"""Training CISNet: CaFFe patch data (data, augment), losses, the loop, validation and its config.

Import from the submodules (``glacierfront.train.loop``, ``.data``, ``.losses``): keeping this file empty
lets the command line load without importing torch until a command needs it.
"""
