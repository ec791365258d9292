"""The container engine: images, containers, events and state, with no HTTP in it."""
