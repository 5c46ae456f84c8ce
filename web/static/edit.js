// The painter's edits on the wire (docs/protocol.md, "stroke" and
// "erase_all"): the one place that turns what the user paints into
// messages. An edit is { concept, mode, units, brush, strength, radius },
// or, painted with a custom brush (units picked in the unit editor),
// { custom: {layer, units}, mode, strength, radius }; fields left undefined (brush and
// strength when the model has no brushes, concept and units of a custom
// brush) are omitted by JSON.

// editOf is the part of a stroke that a continued stroke must repeat.
export function editOf(s) {
  return { concept: s.concept, mode: s.mode, units: s.units, brush: s.brush, strength: s.strength, radius: s.radius, custom: s.custom };
}

// strokeMessage sends points as a part of stroke s (its id continues it).
export function strokeMessage(s, points) {
  return { t: 'stroke', ...editOf(s), points, stroke: s.id };
}

// eraseAllMessage removes a concept everywhere with its erasing brush, or
// a custom brush's units everywhere.
export function eraseAllMessage(e) {
  if (e.custom) return { t: 'erase_all', custom: e.custom, strength: e.strength };
  return { t: 'erase_all', concept: e.concept, units: e.units, brush: e.brush, strength: e.strength };
}
