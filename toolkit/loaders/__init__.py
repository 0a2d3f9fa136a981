"""Model sources (build side, torch): what people save, loaded as an eval-mode module with its spec."""
