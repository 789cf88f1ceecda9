//! One module per subcommand; each turns parsed arguments into a library call and an exit
//! code.

pub(crate) mod backtest;
pub(crate) mod compare;
pub(crate) mod doctor;
pub(crate) mod history;
pub(crate) mod report;
pub(crate) mod run;
pub(crate) mod sim;
pub(crate) mod status;
pub(crate) mod sweep;
pub(crate) mod walk_forward;
