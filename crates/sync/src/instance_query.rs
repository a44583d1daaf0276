pub struct InstanceQuery;
pub enum QueryMatch {}
