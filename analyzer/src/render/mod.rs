//! Renderers: functions from the report model to a `&mut dyn Write`. They never open files and
//! never compute statistics.

pub mod histogram_svg;
pub mod json;
pub mod svg;
pub mod text;
pub mod timeline_svg;
