"""The SoC's command dispatcher, one module per group of commands: the registers they
share (``shared``), READ/WRITE on the core's host port (``access``), SET_PARAMS
(``params``), a sample's validation and streaming into the core (``samples``) and the
answer frame (``response``).  The dataset store's commands are hw/store/commands.py.
Each group adds its states to the one dispatcher FSM (hw/soc.py)."""
