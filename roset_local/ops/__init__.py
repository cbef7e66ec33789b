"""Day-2 operations: online backup, restore into an empty data directory, doctor, model listing."""
