//! What features keep in memory on this node, one value of each type, made on first use: the directory's
//! context names no feature, and each feature's in-memory state is declared in the feature's own module.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

#[derive(Default)]
pub struct NodeState(RwLock<HashMap<TypeId, Arc<dyn Any + Send + Sync>>>);

impl NodeState {
    /// The node's value of type `T`, made with `T::default()` on first use.
    pub fn get<T: Default + Send + Sync + 'static>(&self) -> Arc<T> {
        let found = self.0.read().unwrap_or_else(|p| p.into_inner()).get(&TypeId::of::<T>()).cloned();
        let value = found.unwrap_or_else(|| {
            let mut values = self.0.write().unwrap_or_else(|p| p.into_inner());
            values.entry(TypeId::of::<T>()).or_insert_with(|| Arc::new(T::default())).clone()
        });
        value.downcast::<T>().unwrap_or_else(|_| unreachable!("values are stored under their own type id"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[derive(Default)]
    struct Counter(AtomicU32);

    #[test]
    fn each_type_has_one_value_made_on_first_use() {
        let node = NodeState::default();
        node.get::<Counter>().0.fetch_add(1, Ordering::Relaxed);
        node.get::<Counter>().0.fetch_add(1, Ordering::Relaxed);
        assert_eq!(node.get::<Counter>().0.load(Ordering::Relaxed), 2);
        assert_eq!(*node.get::<String>(), "");
    }
}
