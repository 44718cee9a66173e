// ActorTable: actors by id, name and slot.
#include "driver/actor_table.hpp"

namespace shmray::driver {

ActorTable::ActorTable(std::uint32_t first_slot, std::uint32_t slots) : first_slot_(first_slot), slots_(slots, 0) {}

ActorInfo* ActorTable::find(ObjectId id) {
  auto it = actors_.find(id.value);
  return it == actors_.end() ? nullptr : &it->second;
}

ActorInfo* ActorTable::by_slot(std::uint32_t slot) {
  if (slot < first_slot_ || slot - first_slot_ >= slots_.size()) return nullptr;
  const std::uint64_t id = slots_[slot - first_slot_];
  return id ? find(ObjectId{id}) : nullptr;
}

ActorInfo* ActorTable::by_name(const std::string& name) {
  // A killed or unreferenced actor's name is free at once: its process may still be leaving.
  auto it = names_.find(name);
  ActorInfo* a = it == names_.end() ? nullptr : find(ObjectId{it->second});
  return a && a->state != ActorState::kDead && !a->unreferenced ? a : nullptr;
}

std::optional<std::uint32_t> ActorTable::free_slot() const {
  for (std::uint32_t i = 0; i < slots_.size(); ++i)
    if (slots_[i] == 0) return first_slot_ + i;
  return std::nullopt;
}

bool ActorTable::any_ending() const {
  for (const auto& [key, a] : actors_)
    if (!a.buried && (a.state == ActorState::kDead || a.unreferenced || a.stop_sent)) return true;
  return false;
}

ActorInfo& ActorTable::add(ActorInfo info) {
  const ObjectId id = info.id;
  slots_[info.slot - first_slot_] = id.value;
  by_index_[id.index()] = id.value;
  if (!info.name.empty()) names_[info.name] = id.value;
  return actors_[id.value] = std::move(info);
}

void ActorTable::erase(ObjectId id) {
  ActorInfo* a = find(id);
  if (!a) return;
  drop_name(*a);
  release_slot(*a);
  if (auto it = by_index_.find(id.index()); it != by_index_.end() && it->second == id.value) by_index_.erase(it);
  actors_.erase(id.value);
}

void ActorTable::release_slot(ActorInfo& a) {
  if (a.slot >= first_slot_ && a.slot - first_slot_ < slots_.size() && slots_[a.slot - first_slot_] == a.id.value)
    slots_[a.slot - first_slot_] = 0;
}

void ActorTable::drop_name(const ActorInfo& a) {
  if (a.name.empty()) return;
  if (auto it = names_.find(a.name); it != names_.end() && it->second == a.id.value) names_.erase(it);
}

void ActorTable::refuse(ObjectId id, std::string why) { refused_[id.index()] = {id.value, std::move(why)}; }

std::string ActorTable::refusal(ObjectId id) const {
  auto it = refused_.find(id.index());
  return it != refused_.end() && it->second.first == id.value ? it->second.second : std::string();
}

bool ActorTable::note_freed(std::uint32_t index) {
  refused_.erase(index);
  auto it = by_index_.find(index);
  if (it == by_index_.end()) return false;
  ActorInfo* a = find(ObjectId{it->second});
  by_index_.erase(it);
  if (!a) return false;
  a->unreferenced = true;
  unreferenced_.push_back(a->id);
  return true;
}

std::vector<ObjectId> ActorTable::take_unreferenced() {
  std::vector<ObjectId> out;
  out.swap(unreferenced_);
  return out;
}

}  // namespace shmray::driver
