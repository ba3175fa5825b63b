"""People at the signal: crossings, waiting pedestrians, occupancy and person metrics.

``crossings``  which controlled links are pedestrian crossings, their lengths and greens
``sensing``    waiting pedestrians per crossing and persons on board per lane, each step
``kernels``    numba kernels: pedestrian minimum green, demand, crossing state, push buttons
``metrics``    pedestrian and person delays from SUMO's tripinfo (``<personinfo>``)
"""
