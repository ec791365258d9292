"""The manager: the control API over the cluster store (``controlapi``) and the specs it
accepts (``spec``); its reconcilers (orchestrators, scheduler, allocator, dispatcher) come
with services and tasks."""
