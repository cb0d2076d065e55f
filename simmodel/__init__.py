"""simmodel: social care need and buddy care capacity in adult prisons in England and Wales.

A discrete-event simulation: SimPy drives the slow lifecycle (people, pathway,
buddies, regime) and a vectorised fast lane resolves the care tasks of each unlock
window. See README.md, "How the model works".
"""

__version__ = "0.1.0"
