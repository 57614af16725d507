//! Multi-task gradient aggregators: exact, f64, no torch.
