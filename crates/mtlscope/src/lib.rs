//! mtlscope: multi-task learning research toolkit.
