//! Interning of the short, endlessly repeated names (symbols, strategy names, timeframes,
//! servers, brokers): a record stores a 4-byte [`Sym`] instead of an allocated string, which
//! keeps `apply` free of allocations for them and the per-trade memory small.

use rustc_hash::FxHashMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub(crate) struct Sym(u32);

impl Sym {
    /// The id as stored in the checkpoint's fixed-size entries.
    pub fn id(self) -> u32 {
        self.0
    }
}

#[derive(Clone, Debug, Default)]
pub(crate) struct Interner {
    names: Vec<Box<str>>,
    ids: FxHashMap<Box<str>, Sym>,
}

impl Interner {
    pub fn intern(&mut self, name: &str) -> Sym {
        if let Some(&sym) = self.ids.get(name) {
            return sym;
        }
        // Four billion distinct names would exhaust memory long before the id space.
        let sym = Sym(u32::try_from(self.names.len()).expect("fewer than 2^32 distinct names"));
        self.names.push(name.into());
        self.ids.insert(name.into(), sym);
        sym
    }

    /// The id of a name seen before; a query for a name never seen matches nothing.
    pub fn lookup(&self, name: &str) -> Option<Sym> {
        self.ids.get(name).copied()
    }

    pub fn name(&self, sym: Sym) -> &str {
        // Every Sym comes from `intern`, or was checked by `contains` when a checkpoint loaded.
        &self.names[sym.0 as usize]
    }

    pub fn contains(&self, sym: Sym) -> bool {
        (sym.0 as usize) < self.names.len()
    }

    /// Every interned id, in order.
    pub fn syms(&self) -> impl Iterator<Item = Sym> {
        (0..self.names.len() as u32).map(Sym)
    }
}

impl PartialEq for Interner {
    fn eq(&self, other: &Interner) -> bool {
        self.names == other.names
    }
}

/// Only the names are stored; the reverse map is rebuilt on load.
impl Serialize for Interner {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.names.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Interner {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Interner, D::Error> {
        let names = Vec::<Box<str>>::deserialize(deserializer)?;
        let mut ids = FxHashMap::default();
        for (index, name) in names.iter().enumerate() {
            let sym = Sym(u32::try_from(index).map_err(serde::de::Error::custom)?);
            if ids.insert(name.clone(), sym).is_some() {
                return Err(serde::de::Error::custom(format!(
                    "name {name:?} interned twice"
                )));
            }
        }
        Ok(Interner { names, ids })
    }
}
